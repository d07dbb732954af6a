"""Small int8 models of random geometry, built directly as mcutrain IR graphs, for the
differential test of the Cortex-M DSP kernels (test_random_models.py).

    spec = random_spec(seed)      geometry, scheme, head, CPU: plain JSON, printed on failure
    g = build_graph(spec)         the int8 graph (weights etc. drawn from spec["seed"])
    print(describe(spec))         one line per layer

The geometry covers what the kernels dispatch on: channel counts from 1 to ~600 (odd, not
multiples of 4, and the kernels' thresholds: EDGES), kernels 1x1 to 7x7 and non-square
(10x4), strides 1 and 2 (also mixed), every padding from 0 to k - 1 per side, depthwise (with
the fused expansion when frozen: an inverted-residual block pw -> dw -> pw, with its residual
add when the shapes allow), grouped convs, max pools, spatial sizes down to 1x1, a 1x1-conv or
linear classifier or a fresh float head; schemes bias-only:K, last:K, full and JSON schemes
with channel ratios; int8 or float-master storage, momentum, weight decay, QAS on or off.
Modes: "normal" (anything), "mobile" (MobileNet blocks: the shapes the fastest depthwise and
fused-expansion kernels take), "wide" (few pixels, many channels), "long" (rows wider than
the kernels' ring buffers), "kws" (49x10 MFCCs); and, as a family of its own
(random_spec(seed, resnet=True)), ResNets of 3x3 convs with residual adds. Sizes stay small
(a few hundred thousand MACs, RAM well inside 256 KB) so a model compiles, builds and runs in
seconds. Over 160 seeds
the models execute 132 of the 139 functions of the DSP kernels (QEMU's translated blocks).

Quantization is realistic: per-channel weight scales, output scales set so outputs spread
over the int8 range (as calibration would), int32 biases of the accumulators' size; a few
channels are dead (all-zero weights, or a large negative bias: always act_min), as trained
models have them.
"""
from __future__ import annotations

import json

import numpy as np

from mcutrain.ir import QParams
from mcutrain.ops.builder import GraphBuilder
from mcutrain.ops.conv import out_hw
from mcutrain.ops.elementwise import int_add_attrs
from mcutrain.ops.fixedpoint import quantize_multiplier

MAX_ACT = 6000       # elements of one activation (its float gradient is 4x that in bytes)
MAX_LAYER_MACS = 250_000
MAX_WEIGHTS = 60_000  # per layer
MAX_TRAINED_RAM = 120_000  # bytes of trained weights in RAM (int8 or float masters)
CPUS = ("cortex-m4", "cortex-m7")


# ---- the geometry --------------------------------------------------------------------------

# channel counts at the kernels' thresholds (tiles up to 32 inputs, fused 1x1 groups of 64,
# stack tables of 128 and 256, two-pixel kernels up to 496 and 576 inputs) and around them
EDGES = (31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 495, 496, 497, 511, 512, 513,
         575, 576, 577, 600)
BANDS = {"normal": [0.2, 0.4, 0.2, 0.05, 0.15], "wide": [0.05, 0.1, 0.2, 0.35, 0.3]}


def _channels(rng, mode: str) -> int:
    """1..600: most small, odd ones and non-multiples of 4 as often as the rest, multiples of
    4 and 8 (what the fastest kernels take) a little more often, the thresholds often."""
    band = rng.choice(5, p=BANDS["wide" if mode == "wide" else "normal"])
    if band == 4:
        return int(rng.choice(EDGES))
    lo, top = [(1, 8), (9, 64), (65, 200), (201, 600)][band]
    c = int(rng.integers(lo, top + 1))
    m = int(rng.choice([1, 4, 8], p=[0.6, 0.2, 0.2]))
    return max(m, c // m * m)


def _kernel(rng, square: float = 0.6, kmax: int = 7):
    kh = int(rng.integers(1, kmax + 1))
    kw = kh if rng.random() < square else int(rng.integers(1, kmax + 1))
    return [kh, kw]


def _padding(rng, k: int, size: int) -> int:
    """0..k-1 (k rarely: a border of padding only), at least what a non-empty output needs;
    half the time k // 2 ("same", the usual one)."""
    lo = max(0, -(-(k - size) // 2))
    if rng.random() < 0.5:
        return max(lo, k // 2)
    hi = k if rng.random() < 0.05 else max(lo, k - 1)
    return int(rng.integers(lo, hi + 1))


def _stride(rng):
    s = int(rng.integers(1, 3))
    return [s, s] if rng.random() < 0.85 else [s, 3 - s]


def _fit(c: int, h: int, w: int, per_out: int) -> int:
    """Output channels cut so the activation, the MACs and the weights stay small."""
    c = min(c, MAX_ACT // max(1, h * w), MAX_LAYER_MACS // max(1, h * w * per_out),
            MAX_WEIGHTS // max(1, per_out))
    return max(1, c)


def _conv_layer(rng, mode, c, h, w, op, **kw):
    """A conv of kind op ("conv", "dw", "group", "pw") on a c x h x w input: spec, new c, h, w."""
    k = [1, 1] if op == "pw" else kw.get("k") or _kernel(rng)
    s = [1, 1] if op == "pw" else kw.get("s") or _stride(rng)
    p = [0, 0] if op == "pw" else kw.get("p") or [_padding(rng, k[0], h), _padding(rng, k[1], w)]
    ho, wo = out_hw(h, w, k, s, p)
    groups, cout = 1, kw.get("cout") or _channels(rng, mode)
    if op == "dw":
        groups, cout = c, c
    elif op == "group":
        divs = [d for d in range(2, c) if c % d == 0]
        groups = int(rng.choice(divs)) if divs else 1
        cout = groups * max(1, cout // groups)
    per_out = (c // groups) * k[0] * k[1]
    if op != "dw":
        cout = groups * max(1, _fit(cout, ho, wo, per_out) // groups)
    act = str(rng.choice(["relu", "relu6", "none"], p=[0.5, 0.3, 0.2]))
    layer = dict(op="conv", cout=cout, k=k, s=s, p=p, groups=groups, act=act)
    if op == "dw" and groups > 1:
        layer["dw"] = True  # a channel fraction may select its channels (not a grouped conv's)
    return layer, cout, ho, wo


def _block(rng, mode, c, h, w):
    """One random block: list of layer specs and the new shape."""
    kind = rng.choice(["dw", "pw", "ir", "conv", "group", "maxpool"],
                      p=[0.2, 0.15, 0.3, 0.15, 0.1, 0.1])
    if kind == "maxpool":
        k = [int(rng.integers(1, 4))] * 2
        k = [min(k[0], h), min(k[1], w)]
        s = [int(rng.integers(1, k[0] + 1)), int(rng.integers(1, k[1] + 1))]
        ho, wo = out_hw(h, w, k, s, [0, 0])
        return [dict(op="maxpool", k=k, s=s)], c, ho, wo
    if kind == "ir":  # expansion, depthwise, projection (+ the residual add)
        t = int(rng.integers(1, 7)) if mode != "wide" else int(rng.integers(4, 13))
        e = _fit(c * t if rng.random() < 0.7 else _channels(rng, mode), h, w, c)
        pw1, _, _, _ = _conv_layer(rng, mode, c, h, w, "pw", cout=e)
        pw1.update(cout=e, block=True)  # the block's input feeds its residual add
        dw, _, ho, wo = _conv_layer(rng, mode, e, h, w, "dw", **_mobile_dw(rng))
        res = ho == h and wo == w and rng.random() < 0.8
        pw2, cout, _, _ = _conv_layer(rng, mode, e, ho, wo, "pw", cout=c if res else None)
        pw2["act"] = "none"
        if res and cout == c:
            pw2["residual"] = True
        return [pw1, dw, pw2], cout, ho, wo
    layer, c2, ho, wo = _conv_layer(rng, mode, c, h, w, str(kind),
                                    **(_mobile_dw(rng) if kind == "dw" else {}))
    return [layer], c2, ho, wo


def _mobile_dw(rng) -> dict:
    """Half the depthwise convs as MobileNets have them (3x3, 5x5 or 7x7, stride 1 or 2, "same"
    padding: the group and pair-ring kernels' shapes), the others of any geometry."""
    if rng.random() < 0.5:
        return {}
    k = int(rng.choice([3, 5, 7]))
    return dict(k=[k, k], s=[1, 1] if rng.random() < 0.7 else [2, 2], p=[k // 2, k // 2])


def _mobile_blocks(rng, c, h, w):
    """A MobileNet's blocks: channels in multiples of 4 up to 64 (the fused expansion's
    groups of four), expansions 1 to 6, 3x3/5x5/7x7 depthwise with "same" padding, the
    residual add wherever the shapes allow, ReLU6 or ReLU throughout (the clamping and the
    plain kernels)."""
    act, layers = str(rng.choice(["relu6", "relu"])), []
    for _ in range(int(rng.integers(2, 5))):
        e = _fit(c * int(rng.choice([1, 3, 4, 6])), h, w, c)
        k, s = int(rng.choice([3, 5, 7])), 1 if rng.random() < 0.6 else 2
        ho, wo = out_hw(h, w, [k, k], [s, s], [k // 2, k // 2])
        res = s == 1 and rng.random() < 0.7
        cout = c if res else _fit(int(rng.choice([4, 8, 12, 16, 24, 32, 40, 48, 64])), ho, wo, e)
        dw = dict(op="conv", cout=e, k=[k, k], s=[s, s], p=[k // 2, k // 2], groups=e, act=act)
        if e > 1:
            dw["dw"] = True
        layers += [dict(op="conv", cout=e, k=[1, 1], s=[1, 1], p=[0, 0], groups=1, act=act,
                        block=True), dw,
                   dict(op="conv", cout=cout, k=[1, 1], s=[1, 1], p=[0, 0], groups=1,
                        act="none", **({"residual": True} if res else {}))]
        c, h, w = cout, ho, wo
    return layers, c, h, w


def _resnet_stacks(rng, c, h, w):
    """MLPerf Tiny's ResNet-8, scaled to the test's sizes: stacks of two 3x3 convs ("same"
    padding, ReLU then none) added to the stack's input, the later stacks entered through a
    3x3 stride-2 conv to a new width of 12 to 48 channels (odd ones too): the general convs'
    im2col path with K = 9 C from 27 to 432 at up to 16x16 pixels."""
    layers = []
    for n in range(int(rng.integers(1, 4))):
        if n > 0 and h > 2 and rng.random() < 0.7:
            c = int(rng.integers(12, 49)) if h * w <= 64 else int(rng.integers(12, 25))
            layers.append(dict(op="conv", cout=c, k=[3, 3], s=[2, 2], p=[1, 1], groups=1,
                               act="relu"))
            h, w = out_hw(h, w, [3, 3], [2, 2], [1, 1])
        layers += [dict(op="conv", cout=c, k=[3, 3], s=[1, 1], p=[1, 1], groups=1, act="relu",
                        block=True),
                   dict(op="conv", cout=c, k=[3, 3], s=[1, 1], p=[1, 1], groups=1, act="none",
                        residual=True)]
    return layers, c, h, w


def _input(rng, mode: str):
    """(channels, h, w) of the input for the model's mode."""
    cin = int(rng.choice([1, 2, 3, 3, 4, 5, 8, 16]))
    if mode == "mobile":
        h = int(rng.integers(6, 25))
        return 3, h, h if rng.random() < 0.7 else int(rng.integers(6, 25))
    if mode == "kws":
        return 1, 49, 10  # keyword spotting: MFCCs
    if mode == "wide":  # few pixels, many channels (the late layers of a MobileNet)
        return cin, int(rng.integers(1, 6)), int(rng.integers(1, 6))
    if mode == "long":  # rows wider than the depthwise kernels' ring buffers
        return cin, int(rng.integers(1, 8)), int(rng.integers(30, 81))
    h = int(rng.integers(1, 25)) if rng.random() < 0.75 else int(rng.integers(1, 5))
    return cin, h, h if rng.random() < 0.6 else int(rng.integers(1, 25))


def random_spec(seed: int, resnet: bool = False) -> dict:
    """The geometry, scheme and target of model `seed` (plain JSON); `resnet`: a ResNet
    (_resnet_stacks) instead of the drawn mode (a separate family: the other seeds' models
    stay as they were)."""
    if resnet:
        return _resnet_spec(seed)
    rng = np.random.default_rng([seed, 0x6D6374])
    mode = str(rng.choice(["normal", "mobile", "wide", "long", "kws"],
                          p=[0.4, 0.25, 0.2, 0.08, 0.07]))
    cin, h, w = _input(rng, mode)
    mobile = mode == "mobile" or mode == "normal" and rng.random() < 0.3
    if mobile:  # the MobileNet stem: 3x3 stride 2 on 3 channels (the first-conv kernel's)
        cin = 3
    stem, c, hh, ww = _conv_layer(rng, mode, cin, h, w, "conv", **(
        dict(k=[3, 3], s=[int(rng.integers(1, 3)), 2], p=[1, 1] if mode == "mobile" else None,
             cout=int(rng.choice([8, 12, 16]) if mode == "mobile" else rng.integers(1, 20)))
        if mobile else {}))
    layers = [stem]
    if mode == "mobile":
        blocks, c, hh, ww = _mobile_blocks(rng, c, hh, ww)
        layers += blocks
    for _ in range(int(rng.integers(0 if mode == "mobile" else 1, 5))):
        blk, c, hh, ww = _block(rng, mode, c, hh, ww)
        layers += blk
    head = dict(kind=str(rng.choice(["conv", "linear"])), classes=int(rng.integers(2, 13)))
    n_layers = sum(l["op"] == "conv" for l in layers) + 1
    x_zero = int(rng.choice([0, -128, int(rng.integers(-30, 30))]))
    spec = dict(seed=seed, cpu=CPUS[seed % 2], mode=mode,
                input=dict(c=cin, h=h, w=w, x_zero=x_zero), layers=layers, head=head,
                **_scheme(rng, layers, n_layers, _trainable_from(layers)),
                steps=int(rng.integers(2, 4)), lr=float(rng.choice([0.005, 0.02, 0.1])),
                train=_training(rng))
    if _trained_weights(spec) * 9 > MAX_TRAINED_RAM:  # float masters and momentum: 9 B each
        spec["train"].update(storage="int8", momentum=0.0)
    if _trained_weights(spec) > MAX_TRAINED_RAM:  # int8 weights in RAM: biases only then
        spec["scheme"] = bias_only(spec)
    return spec


def _resnet_spec(seed: int) -> dict:
    rng = np.random.default_rng([seed, 0x7265736E])
    h = int(rng.integers(9, 17))
    w = h if rng.random() < 0.7 else int(rng.integers(9, 17))
    c = int(rng.integers(8, 17))
    layers = [dict(op="conv", cout=c, k=[3, 3], s=[1, 1], p=[1, 1], groups=1, act="relu")]
    more, c, _, _ = _resnet_stacks(rng, c, h, w)
    layers += more
    head = dict(kind="linear", classes=int(rng.integers(2, 13)))
    n_layers = sum(l["op"] == "conv" for l in layers) + 1
    spec = dict(seed=seed, cpu=CPUS[seed % 2], mode="resnet",
                input=dict(c=3, h=h, w=w, x_zero=int(rng.choice([0, -128, 5]))),
                layers=layers, head=head, **_scheme(rng, layers, n_layers, 0),
                steps=2, lr=0.02, train=_training(rng))
    if _trained_weights(spec) * 9 > MAX_TRAINED_RAM:
        spec["train"].update(storage="int8", momentum=0.0)
    if _trained_weights(spec) > MAX_TRAINED_RAM:
        spec["scheme"] = bias_only(spec)
    return spec


def bias_only(spec) -> str:
    """The scheme's biases without its weights (for a model whose training would not fit)."""
    s = spec["scheme"]
    if s == "full":
        return f"bias-only:{sum(l['op'] == 'conv' for l in spec['layers']) + 1}"
    return f"bias-only:{int(s.split(':')[1]) if isinstance(s, str) else s['bias_last']}"


def _trained_weights(spec) -> int:
    """Weights the scheme trains (an upper bound: whole layers)."""
    c, sizes = spec["input"]["c"], []
    for l in spec["layers"]:
        if l["op"] == "conv":
            sizes.append(l["cout"] * (c // l["groups"]) * l["k"][0] * l["k"][1])
            c = l["cout"]
    sizes.append(c * (spec["classes"] or spec["head"]["classes"]))
    s = spec["scheme"]
    if s == "full":
        return sum(sizes)
    if isinstance(s, str):
        k = int(s.split(":")[1]) if s.startswith("last:") else 0
        return sum(sizes[len(sizes) - k:]) if k else 0
    return sum(sizes[int(i)] for i in s["weights"])


def _training(rng) -> dict:
    """compile_model's optimizer options: the SGD kernels' fast paths take plain QAS updates
    (no momentum, no weight decay), the rest runs their general form."""
    return dict(storage=str(rng.choice(["int8", "fp32"], p=[0.85, 0.15])),
                momentum=float(rng.choice([0.0, 0.9], p=[0.75, 0.25])),
                weight_decay=float(rng.choice([0.0, 1e-4], p=[0.8, 0.2])),
                qas=bool(rng.random() < 0.85))


def _trainable_from(layers) -> int:
    """Index (conv/linear layers counted) of the first layer that may train: after the last
    max pool (its gradient has no kernel: nothing before it may need one)."""
    idx, first = 0, 0
    for l in layers:
        if l["op"] == "maxpool":
            first = idx
        else:
            idx += 1
    return first


def _grouped(layer) -> bool:
    return layer["groups"] > 1 and not layer.get("dw")


def _scheme(rng, layers, n_layers: int, first: int) -> dict:
    """A scheme that trains only layers >= first, and maybe a fresh head. A grouped conv's
    weights train whole (a channel fraction needs groups 1 or a depthwise conv)."""
    convs = [l for l in layers if l["op"] == "conv"] + [dict(groups=1, head=True)]
    classes = int(rng.integers(2, 11)) if rng.random() < 0.4 else None
    room = n_layers - first
    kind = rng.choice(["bias-only", "last", "json", "full"], p=[0.3, 0.3, 0.3, 0.1])
    if kind == "full" and first > 0:
        kind = "last"
    k = room if kind == "full" else int(rng.integers(1, room + 1))
    if kind == "full":
        return dict(scheme="full", classes=classes)
    if kind in ("bias-only", "last"):
        return dict(scheme=f"{kind}:{k}", classes=classes)
    weights = {}
    for i in range(first, n_layers):
        g = convs[i]
        if rng.random() < 0.5:  # a fraction of the int8 classifier's inputs does not compile
            whole = g.get("head") or _grouped(g)
            weights[str(i)] = 1.0 if whole else float(rng.choice([0.1, 0.25, 0.5, 0.75, 1.0]))
    return dict(scheme=dict(bias_last=int(rng.integers(0, room + 1)), weights=weights),
                classes=classes)


def describe(spec: dict) -> str:
    i = spec["input"]
    lines = [f"seed {spec['seed']} on {spec['cpu']}: input {i['c']}x{i['h']}x{i['w']} "
             f"(x_zero {i['x_zero']}), scheme {json.dumps(spec['scheme'])}, classes "
             f"{spec['classes']}, {spec['steps']} steps at lr {spec['lr']} "
             f"{json.dumps(spec.get('train', {}))}"]
    for n, l in enumerate(spec["layers"]):
        if l["op"] == "maxpool":
            lines.append(f"  maxpool k={l['k']} s={l['s']}")
        else:
            lines.append(f"  conv cout={l['cout']} k={l['k']} s={l['s']} p={l['p']} "
                         f"groups={l['groups']} act={l['act']}"
                         f"{' +residual' if l.get('residual') else ''}")
    lines.append(f"  global_avgpool, {spec['head']['kind']} head of {spec['head']['classes']}")
    lines.append("  spec: " + json.dumps(spec))
    return "\n".join(lines)


# ---- the graph -----------------------------------------------------------------------------

def _act_range(act: str, y_scale: float):
    if act == "none":
        return None, (-128, 127)
    hi = 127 if act == "relu" else int(min(127, -128 + round(6.0 / y_scale)))
    return -128, (-128, max(-127, hi))


def _weights(rng, cout, per_out, k):
    """int8 weights with a per-channel spread; a few all-zero channels (pruned)."""
    mag = rng.uniform(0.1, 1.0, cout)
    w = np.rint(rng.uniform(-127, 127, (cout, per_out)) * mag[:, None]).astype(np.int64)
    w[rng.random(cout) < 0.03] = 0
    return w.reshape(cout, per_out // (k[0] * k[1]), k[0], k[1])


def _conv(b, rng, x, l, name, y_scale=None):
    xv = b.value(x)
    cin, groups, k = xv.shape[1], l["groups"], l["k"]
    per_out = (cin // groups) * k[0] * k[1]
    w = _weights(rng, l["cout"], per_out, k)
    # as calibration would set them: the accumulator's spread, sqrt(fan-in) * std(w) *
    # std(x - x_zero) (x about 40 levels wide), maps to about 40 output levels, so real values
    # stay O(1) layer after layer; channel scales vary by 4x around that
    acc_std = np.sqrt(per_out) * np.maximum(w.reshape(l["cout"], -1).std(axis=1), 1.0) * 40.0
    y_scale = y_scale or float(rng.uniform(0.02, 0.06))
    w_scale = y_scale * 40.0 / (xv.q.s * acc_std) * rng.uniform(0.5, 2.0, l["cout"])
    y_zero, act = _act_range(l["act"], y_scale)
    if y_zero is None:
        y_zero = int(rng.integers(-20, 21))
    bias = np.rint(rng.normal(0, 0.5, l["cout"]) * acc_std).astype(np.int64)
    dead = rng.random(l["cout"]) < 0.03
    bias[dead] = -(1 << int(rng.integers(24, 31)))
    wn = b.param(f"{name}.w", w, "i8", QParams.channel(w_scale))
    bn = b.param(f"{name}.b", bias, "i32", QParams.channel(w_scale * xv.q.s))
    m, s = quantize_multiplier(xv.q.s * w_scale / y_scale)
    return b.emit1("conv2d", [x, wn, bn], dict(
        stride=tuple(l["s"]), padding=tuple(l["p"]), groups=groups, x_zero=xv.q.zero_point,
        y_scale=y_scale, y_zero=y_zero, mult=tuple(int(v) for v in m),
        shift=tuple(int(v) for v in s), act_min=act[0], act_max=act[1]), name=name)


def _head(b, rng, x, head):
    xv = b.value(x)
    c, n = xv.shape[1], head["classes"]
    if head["kind"] == "conv":
        l = dict(cout=n, k=[1, 1], s=[1, 1], p=[0, 0], groups=1, act="none")
        y = _conv(b, rng, x, l, "cls", y_scale=0.1)  # logits within +-12.8
        return b.emit1("reshape", [y], dict(shape=(n,)), name="logits")
    f = b.emit1("reshape", [x], dict(shape=(c,)), name="flat")
    w = _weights(rng, n, c, [1, 1]).reshape(n, c)
    acc_std = np.sqrt(c) * np.maximum(w.std(axis=1), 1.0) * 40.0
    w_scale = 0.1 * 40.0 / (xv.q.s * acc_std) * rng.uniform(0.5, 2.0, n)
    bias = np.rint(rng.normal(0, 0.5, n) * acc_std).astype(np.int64)
    m, s = quantize_multiplier(xv.q.s * w_scale / 0.1)
    wn = b.param("fc.w", w, "i8", QParams.channel(w_scale))
    bn = b.param("fc.b", bias, "i32", QParams.channel(w_scale * xv.q.s))
    return b.emit1("linear", [f, wn, bn], dict(
        x_zero=xv.q.zero_point, y_scale=0.1, y_zero=0, mult=tuple(int(v) for v in m),
        shift=tuple(int(v) for v in s), act_min=-128, act_max=127), name="logits")


def build_graph(spec: dict):
    """The int8 graph of `spec`; parameters and scales drawn from spec["seed"]."""
    rng = np.random.default_rng([spec["seed"], 0x77])
    i = spec["input"]
    b = GraphBuilder()
    x = b.input("x", (1, i["c"], i["h"], i["w"]), "i8", QParams.tensor(1 / 127.5, i["x_zero"]))
    block_in = x
    for n, l in enumerate(spec["layers"]):
        if l["op"] == "maxpool":
            x = b.emit1("maxpool2d", [x], dict(kernel=tuple(l["k"]), stride=tuple(l["s"]),
                                               padding=(0, 0)), name=f"pool{n}")
            continue
        if l.get("block"):
            block_in = x  # the input of an inverted-residual block (its expansion)
        x = _conv(b, rng, x, l, f"l{n}")
        if l.get("residual"):
            out_q = QParams.tensor(b.value(x).q.s * float(rng.uniform(1.0, 2.0)),
                                   int(rng.integers(-10, 10)))
            x = b.emit1("add", [block_in, x], int_add_attrs(b.value(block_in).q,
                                                            b.value(x).q, out_q), name=f"add{n}")
    x = b.emit1("global_avgpool", [x], name="pool")
    return b.build([_head(b, rng, x, spec["head"])])
