"""A zoo model on the device (slow; needs ../shared/models): mcunet-5fps with the paper's
~100 KB scheme and a 10-class head fits 256 KB of RAM and 1 MB of flash per the linker, and
two training steps and a forward inside QEMU give exactly the portable host C's results."""
from __future__ import annotations

import pytest

from mcutrain.compile import compile_model

from ..conftest import shared_path
from .conftest import check_device_like_portable_host, needs_qemu

pytestmark = [needs_qemu, pytest.mark.slow, pytest.mark.shared]
SCHEME = '{"bias_last": 23, "weights": {"21": 1, "24": 1, "27": 1, "30": 1, "36": 0.125, ' \
         '"39": 0.25, "42": 1}}'


def test_mcunet_trains_on_the_device_like_the_portable_host_c(tmp_path):
    model = shared_path("models", "mcunet-5fps.pkl")
    (tmp_path / "scheme.json").write_text(SCHEME)
    out = tmp_path / "out"
    compile_model(model, out, update=str(tmp_path / "scheme.json"), classes=10, ram="256KB",
                  flash="1MB")
    # the device runs the portable C's arithmetic (the host's AVX2 depthwise gradient sums in
    # another order, within 1e-6): compared with the host built without its SIMD paths
    r = check_device_like_portable_host(out, tmp_path)
    assert r.info["ram_used_bytes"] <= 256 * 1024 and r.info["flash_used_bytes"] <= 1 << 20
