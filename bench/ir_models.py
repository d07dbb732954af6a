"""MLPerf Tiny's image classifier and keyword spotter built directly in the IR, with random
int8 weights and realistic quantization (tests/targets/random_models.py's _conv: per-channel
scales, outputs spread over the int8 range, a few dead channels): the shapes off the paper's
three models that bench/device.py measures (issue 24).

    resnet8()   32x32x3 input; a 3x3 stem of 16; three residual stacks of two 3x3 convs
                (16, 32, 64 channels; stacks 2 and 3 start with stride 2 and add a 1x1
                stride-2 shortcut), ReLU after each add; average pool; linear of 10.
                12.5 M MACs per forward.
    ds_cnn()    49x10x1 MFCCs; a 10x4 stride-2 stem of 64 (padding 5, 1: 25x5 out); four
                depthwise-separable blocks (3x3 depthwise, 1x1 of 64); average pool; linear
                of 12. 2.7 M MACs per forward.

Their schemes are the issue's: ResNet-8 trains the biases of its last 6 layers, DS-CNN of
its last 4. The weights are random (seeded), so only the instruction counts mean anything.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.targets.random_models import _conv, _head  # noqa: E402

from mcutrain.ir import QParams  # noqa: E402
from mcutrain.ops.builder import GraphBuilder  # noqa: E402
from mcutrain.ops.elementwise import int_add_attrs  # noqa: E402

# name -> (builder, scheme, classes of its own classifier)
IR_MODELS = {}


def _layer(cout, k, s=1, p=None, groups=1, act="relu"):
    k = k if isinstance(k, (list, tuple)) else [k, k]
    p = p if p is not None else [k[0] // 2, k[1] // 2]
    p = p if isinstance(p, (list, tuple)) else [p, p]
    return dict(cout=cout, k=list(k), s=[s, s], p=list(p), groups=groups, act=act)


def _add_relu(b, rng, a, y, name):
    """a + y, then ReLU: the output's zero point at -128, so negative sums clamp to 0."""
    qa, qy = b.value(a).q, b.value(y).q
    out_q = QParams.tensor(max(qa.s, qy.s) * float(rng.uniform(1.2, 1.6)), -128)
    return b.emit1("add", [a, y], int_add_attrs(qa, qy, out_q), name=name)


def resnet8(seed: int = 8):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (1, 3, 32, 32), "i8", QParams.tensor(1 / 127.5, 0))
    x = _conv(b, rng, x, _layer(16, 3), "stem")
    for i, c in enumerate((16, 32, 64)):
        s = 1 if i == 0 else 2
        y = _conv(b, rng, x, _layer(c, 3, s), f"s{i}.c1")
        y = _conv(b, rng, y, _layer(c, 3, act="none"), f"s{i}.c2")
        sc = x if i == 0 else _conv(b, rng, x, _layer(c, 1, s, 0, act="none"), f"s{i}.sc")
        x = _add_relu(b, rng, sc, y, f"s{i}.add")
    x = b.emit1("global_avgpool", [x], name="pool")
    return b.build([_head(b, rng, x, dict(kind="linear", classes=10))])


def ds_cnn(seed: int = 12):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (1, 1, 49, 10), "i8", QParams.tensor(1 / 127.5, 0))
    x = _conv(b, rng, x, _layer(64, [10, 4], 2, [5, 1]), "stem")
    for i in range(4):
        x = _conv(b, rng, x, _layer(64, 3, groups=64), f"b{i}.dw")
        x = _conv(b, rng, x, _layer(64, 1, p=0), f"b{i}.pw")
    x = b.emit1("global_avgpool", [x], name="pool")
    return b.build([_head(b, rng, x, dict(kind="linear", classes=12))])


IR_MODELS["resnet8-ir"] = (resnet8, "bias-only:6", 10)
IR_MODELS["dscnn-ir"] = (ds_cnn, "bias-only:4", 12)
