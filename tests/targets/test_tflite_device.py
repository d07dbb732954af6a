"""The MLPerf Tiny .tflite models training on the Cortex-M7 in QEMU (slow; needs
../shared/models): compiled within 256 KB of RAM per the linker, two training steps and a
forward inside QEMU give the portable host C's results (TFLite Micro's rounding on both)."""
from __future__ import annotations

import pytest

from mcutrain.compile import compile_model

from ..conftest import shared_path
from .conftest import check_device_like_portable_host, needs_qemu

pytestmark = [needs_qemu, pytest.mark.slow, pytest.mark.shared]


@pytest.mark.parametrize("model,update", [("ic_resnet8_int8", "last:3"),
                                          ("ad_autoencoder_int8", "last:2")])
def test_tflite_model_trains_on_the_device_like_the_host(tmp_path, model, update):
    pytest.importorskip("tflite_micro")
    out = tmp_path / "out"
    compile_model(shared_path("models", "mlperf_tiny", f"{model}.tflite"), out, update=update,
                  ram="256KB", lr=0.01)
    r = check_device_like_portable_host(out, tmp_path)
    assert r.info["ram_used_bytes"] <= 256 * 1024
