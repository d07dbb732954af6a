"""Every update scheme on each of the four MLPerf Tiny models compiles, and the generated C
trains in lockstep with the reference (TFLite Micro's rounding): bias-only:K, last:K, a scheme
with channel fractions (a conv or depthwise layer and the head), full."""
from __future__ import annotations

import pytest

from mcutrain.autodiff.scheme import find_layers

from .test_tflite_c import _load, lockstep

pytestmark = [pytest.mark.slow, pytest.mark.shared]

MODELS = ["ic_resnet8_int8", "kws_dscnn_int8", "vww_mobilenetv1_int8", "ad_autoencoder_int8"]


def fractions(g) -> dict:
    """Bias of the last 3 layers; weights: all of the head, half and a quarter of the input
    channels of the two layers before it. The autoencoder (all FC): the head and half of the
    layer before it, the first trained layer (the C has no gradient input through a partly
    trained int8 FC weight yet: ops/linear.py _check_linear_grad_input)."""
    layers = find_layers(g)
    n = len(layers)
    if layers[n - 2].op == "linear":
        return {"bias_last": 2, "weights": {str(n - 1): 1, str(n - 2): 0.5}}
    return {"bias_last": 3, "weights": {str(n - 1): 1, str(n - 2): 0.5, str(n - 3): 0.25}}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scheme", ["bias-only:2", "last:2", "fractions", "full"])
def test_scheme_trains_in_lockstep(tmp_path, model, scheme):
    g = _load(model)
    update = fractions(g) if scheme == "fractions" else scheme
    lockstep(g, tmp_path / "out", update, steps=2)
