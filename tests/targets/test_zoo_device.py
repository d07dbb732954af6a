"""A zoo model on the device (slow; needs ../shared/models): mcunet-5fps with the paper's
~100 KB scheme and a 10-class head fits 256 KB of RAM and 1 MB of flash per the linker, and
two training steps and a forward inside QEMU give exactly the portable host C's results."""
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
SCHEME = '{"bias_last": 23, "weights": {"21": 1, "24": 1, "27": 1, "30": 1, "36": 0.125, ' \
         '"39": 0.25, "42": 1}}'


def test_mcunet_trains_on_the_device_like_the_portable_host_c(tmp_path):
    model = shared_path("models", "mcunet-5fps.pkl")
    (tmp_path / "scheme.json").write_text(SCHEME)
    out = tmp_path / "out"
    compile_model(model, out, update=str(tmp_path / "scheme.json"), classes=10, ram="256KB",
                  flash="1MB")
    r = DeviceRunner(out, "cortex-m7", measure=2)
    assert r.info["ram_used_bytes"] <= 256 * 1024 and r.info["flash_used_bytes"] <= 1 << 20
    x, y = random_samples(r, 3, seed=4)
    res = r.run(r.job(train=(x[:2], y[:2]), evals=x[2:], flags=JOB_LOGITS | JOB_DUMP),
                timeout=600)
    # the device runs the portable C's arithmetic (the host's AVX2 depthwise gradient sums in
    # another order, within 1e-6): compare with the host built without its SIMD paths
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
