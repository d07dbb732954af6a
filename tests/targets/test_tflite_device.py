"""The MLPerf Tiny .tflite models training on the Cortex-M7 in QEMU (slow; needs
../shared/models): compiled within 256 KB of RAM per the linker, two training steps and a
forward inside QEMU give the portable host C's results (TFLite Micro's rounding on both)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from mcutrain.compile import compile_model
from mcutrain.targets.host import CompiledModel
from mcutrain.targets.qemu import JOB_DUMP, JOB_LOGITS, DeviceRunner, random_samples

from ..conftest import shared_path
from .conftest import needs_qemu

pytestmark = [needs_qemu, pytest.mark.slow, pytest.mark.shared]


@pytest.mark.parametrize("model,update", [("ic_resnet8_int8", "last:3"),
                                          ("ad_autoencoder_int8", "last:2")])
def test_tflite_model_trains_on_the_device_like_the_host(tmp_path, model, update):
    pytest.importorskip("tflite_micro")
    out = tmp_path / "out"
    compile_model(shared_path("models", "mlperf_tiny", f"{model}.tflite"), out, update=update,
                  ram="256KB", lr=0.01)
    r = DeviceRunner(out, "cortex-m7", measure=2)
    assert r.info["ram_used_bytes"] <= 256 * 1024
    x, y = random_samples(r, 3, seed=4)
    res = r.run(r.job(train=(x[:2], y[:2]), evals=x[2:], flags=JOB_LOGITS | JOB_DUMP),
                timeout=600)
    shutil.copytree(out, tmp_path / "host", ignore=shutil.ignore_patterns("cortex-m*"))
    cm = CompiledModel(tmp_path / "host", opt="-O2 -DMCT_PORTABLE")
    for i in range(2):  # floats within 1e-5 relative (libm's expf may differ), ints exact
        np.testing.assert_allclose(res.train[i]["loss"], cm.train_step(x[i], int(y[i])), rtol=1e-5)
        np.testing.assert_allclose(res.train[i]["logits"], cm.logits(), rtol=1e-5, atol=1e-6)
    host, dev = cm.get_params(), res.params_dict()
    for k in host:
        if host[k].dtype == np.float32:
            np.testing.assert_allclose(dev[k], host[k], rtol=1e-5, atol=1e-7, err_msg=k)
        else:
            assert np.array_equal(host[k], dev[k]), k
    np.testing.assert_allclose(res.evals[0]["logits"], cm.forward(x[2]), rtol=1e-5, atol=1e-6)
