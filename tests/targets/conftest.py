"""Fixtures of the Cortex-M target tests: the toolchain checks, a compiled tiny model and its
device builds (one per CPU, built once per test module)."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.compile import compile_model
from mcutrain.targets.cortex_m import qemu_available, toolchain_available

from ..conftest import tiny_int8_model

needs_toolchain = pytest.mark.skipif(not toolchain_available(),
                                     reason="arm-none-eabi-gcc is not installed")
needs_qemu = pytest.mark.skipif(not qemu_available(),
                                reason="arm-none-eabi-gcc or qemu-system-arm is not installed")
CPUS = ["cortex-m4", "cortex-m7"]


def compile_tiny(out, **kw):
    """The tiny CNN at 12x12 with a fresh 3-class head, its last 3 layers training."""
    args = dict(update="last:3", classes=3, lr=0.05)
    args.update(kw)
    return compile_model(tiny_int8_model(hw=12), out, **args)


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "out"
    compile_tiny(out)
    return out


@pytest.fixture(scope="module")
def runners(tiny_out):
    """DeviceRunner per CPU (built once; each test erases the flash it uses)."""
    from mcutrain.targets.qemu import DeviceRunner

    cache = {}

    def get(cpu):
        if cpu not in cache:
            cache[cpu] = DeviceRunner(tiny_out, cpu)
        return cache[cpu]

    return get


def fresh_host(out, tmp_path):
    """The host build of `out` with its compiled-in parameters: a copy in a new directory,
    since ctypes loads a library path once per process (its trained state would carry over)."""
    import shutil

    from mcutrain.targets.host import CompiledModel

    if not (out / "libmodel.so").exists():
        CompiledModel(out)  # build the host library once; the copies reuse it
    dst = tmp_path / f"host-{len(list(tmp_path.glob('host-*')))}"
    shutil.copytree(out, dst, ignore=shutil.ignore_patterns("cortex-m*"))
    return CompiledModel(dst)


def quadrant_data(n=90, hw=12, seed=0):
    """A learnable 3-class task: the class is the bright quadrant of the image (uint8)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, hw, hw, 3)).astype(np.uint8)
    h = hw // 2
    for i, c in enumerate(y):
        r0, c0 = [(0, 0), (0, h), (h, 0)][c]
        x[i, r0:r0 + h, c0:c0 + h] += 150
    return x, y


def check_device_like_portable_host(out, tmp_path):
    """Two training steps and a forward of compile output `out` on the Cortex-M7 in QEMU give
    the portable host C's results: integers exact, floats within 1e-5 relative (libm's expf
    may differ; the host's SIMD paths sum some float gradients in another order, so the host
    is built with -DMCT_PORTABLE). Returns the device runner."""
    import shutil

    from mcutrain.targets.host import CompiledModel
    from mcutrain.targets.qemu import JOB_DUMP, JOB_LOGITS, DeviceRunner, random_samples

    r = DeviceRunner(out, "cortex-m7", measure=2)
    x, y = random_samples(r, 3, seed=4)
    res = r.run(r.job(train=(x[:2], y[:2]), evals=x[2:], flags=JOB_LOGITS | JOB_DUMP),
                timeout=600)
    shutil.copytree(out, tmp_path / "host", ignore=shutil.ignore_patterns("cortex-m*"))
    cm = CompiledModel(tmp_path / "host", opt="-O2 -DMCT_PORTABLE")
    for i in range(2):
        np.testing.assert_allclose(res.train[i]["loss"], cm.train_step(x[i], int(y[i])), rtol=1e-5)
        np.testing.assert_allclose(res.train[i]["logits"], cm.logits(), rtol=1e-5, atol=1e-6)
    host, dev = cm.get_params(), res.params_dict()
    for k in host:
        if host[k].dtype == np.float32:
            np.testing.assert_allclose(dev[k], host[k], rtol=1e-5, atol=1e-7, err_msg=k)
        else:
            assert np.array_equal(host[k], dev[k]), k
    np.testing.assert_allclose(res.evals[0]["logits"], cm.forward(x[2]), rtol=1e-5, atol=1e-6)
    return r
