"""Training inside QEMU (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7): results equal the host
C's (int8/int32 bit for bit, floats within 1e-5 relative), instruction counts and the stack
high-water mark are measured and repeatable, faults end the emulator with a known code."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.targets.qemu import (JOB_DUMP, JOB_FAULT, JOB_LOGITS, DeviceRunError,
                                   DeviceRunner, measure_steps, random_samples)

from .conftest import CPUS, compile_tiny, fresh_host, needs_qemu

pytestmark = needs_qemu


def assert_params_match(host: dict, dev: dict):
    assert host.keys() == dev.keys()
    for k in host:
        if host[k].dtype == np.float32:
            np.testing.assert_allclose(dev[k], host[k], rtol=1e-5, atol=1e-7, err_msg=k)
        else:
            assert np.array_equal(dev[k], host[k]), f"{k} differs"


@pytest.mark.parametrize("cpu", CPUS)
def test_forward_and_ten_steps_equal_the_host(runners, tiny_out, cpu, tmp_path):
    r = runners(cpu)
    x, y = random_samples(r, 14, seed=3)
    res = r.run(r.job(train=(x[:10], y[:10]), evals=x[10:], flags=JOB_LOGITS | JOB_DUMP))
    assert res.rc == 0 and res.header["loaded"] == "compiled" and res.end["step"] == 10
    cm = fresh_host(tiny_out, tmp_path)
    for i in range(10):
        loss = cm.train_step(x[i], int(y[i]))
        d = res.train[i]
        assert d["status"] == 0
        np.testing.assert_allclose(d["loss"], loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(d["logits"], cm.logits(), rtol=1e-5, atol=1e-6)
    assert_params_match(cm.get_params(), res.params_dict())
    for i in range(4):  # forward with the trained parameters
        np.testing.assert_allclose(res.evals[i]["logits"], cm.forward(x[10 + i]), rtol=1e-5,
                                   atol=1e-6)


def test_int8_head_is_bit_exact(tmp_path):
    """The model's own int8 classifier: forward logits are dequantized int8 values, so they
    and every trained int8/int32 tensor must match exactly."""
    out = tmp_path / "out"
    compile_tiny(out, update="last:2", classes=None)
    r = DeviceRunner(out, "cortex-m7")
    x, y = random_samples(r, 13, seed=5)
    res = r.run(r.job(train=(x[:10], y[:10]), evals=x[10:], flags=JOB_LOGITS | JOB_DUMP))
    cm = fresh_host(out, tmp_path)
    before = [cm.forward(x[10 + i]) for i in range(3)]
    for i in range(10):
        cm.train_step(x[i], int(y[i]))
    host = cm.get_params()
    assert all(v.dtype != np.float32 for v in host.values())
    dev = res.params_dict()
    for k in host:
        assert np.array_equal(dev[k], host[k]), k
    for i in range(3):
        assert np.array_equal(res.evals[i]["logits"], cm.forward(x[10 + i]))
    assert any(not np.array_equal(b, cm.forward(x[10 + i])) for i, b in enumerate(before))


def test_instruction_counts_and_stack_go_into_report(runners, tiny_out):
    r = runners("cortex-m7")
    a = measure_steps(tiny_out, "cortex-m7", steps=3)
    b = measure_steps(tiny_out, "cortex-m7", steps=3)
    assert a == b  # -icount: the same instructions every run
    assert 1e5 < a["instructions_per_step"] < 1e8
    assert a["instructions_per_forward"] < a["instructions_per_step"]
    assert 0 < a["stack_high_water_bytes"] < r.info["stack_bytes"]
    assert a["insns_per_tick"] == 40.0  # 25 MHz timer, one instruction per virtual ns
    r2 = DeviceRunner(tiny_out, "cortex-m7", measure=2)
    dev = json.loads((tiny_out / "report.json").read_text())["device"]["cortex-m7"]
    assert dev["instructions_per_step"] > 0 and dev["stack_high_water_bytes"] > 0
    assert len(dev["instructions_per_step_all"]) == 2
    del r2


def test_fault_exits_through_semihosting(runners):
    r = runners("cortex-m4")
    res = r.run(r.job(flags=JOB_FAULT), check=False, timeout=30)
    # udf: a UsageFault (enabled at reset, so it is not escalated to a HardFault)
    assert res.rc == 96 and "fault exception 0x00000006" in res.stdout
    with pytest.raises(DeviceRunError, match="UsageFault"):
        r.run(r.job(flags=JOB_FAULT), timeout=30)


def test_stack_overflow_is_caught(tiny_out):
    r = DeviceRunner(tiny_out, "cortex-m4", stack="512", check_stack=False)  # below the need
    x, y = random_samples(r, 1)
    res = r.run(r.job(train=(x, y), flags=0), check=False, timeout=30)
    assert res.rc == 6 and "stack overflow" in res.stdout
    DeviceRunner(tiny_out, "cortex-m4")  # back to the default stack for the other tests


def test_job_for_another_build_is_refused(runners):
    r = runners("cortex-m4")
    job = bytearray(r.job(flags=0))
    job[8] ^= 0xFF  # model hash
    res = r.run(bytes(job), check=False, timeout=30)
    assert res.rc == 4 and "another build" in res.stdout
