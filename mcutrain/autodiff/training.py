"""The training graph: int8 forward exactly as deployed, float32 backward, SGD updates.

make_training_graph(inference_graph, TrainConfig) ->
    inputs  x (model input), label i32[1], lr f32[], step i32[]
    outputs loss, logits, then the updated value of every trained parameter (and momentum)
Which parameters train comes from the scheme (autodiff/scheme.py); where they live from
`storage`: "int8" updates the deployed int8 weights / int32 biases in place with stochastic
rounding (1 or 4 bytes each); "fp32" keeps a float master per trained value (4 bytes) that
the forward pass uses rounded (round_master). A fresh head (classes=N) is float32 and always
trains in full.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import InputError, UsageError, check_range
from ..ir.graph import Graph
from ..ops.builder import GraphBuilder
from ..ops.optim import take_slice
from ..ops.verify import verify
from ..quant.qas import bias_qas, weight_qas
from .grad import append_backward
from .head import replace_head
from .prune import TRAINING_PASSES, run_passes
from .scheme import Scheme, find_layers, parse_scheme, resolve_scheme

STORAGES = ("int8", "fp32")
LOSSES = ("ce", "mse")
MAX_CLASSES = 1 << 16  # as the CLI's --classes


@dataclass(frozen=True)
class TrainConfig:
    scheme: object = "full"  # see autodiff/scheme.py
    storage: str = "int8"  # "int8" (in place, stochastic rounding) or "fp32" (float master)
    lr: float = 0.01  # default learning rate (a runtime input of the step)
    momentum: float = 0.0
    weight_decay: float = 0.0
    qas: bool = True
    seed: int = 0  # head init and stochastic-rounding stream
    classes: int | None = None  # new float head of this many outputs
    loss: str | None = None  # "ce" | "mse"; None: loss_of (mse for an autoencoder)

    def to_json(self) -> dict:
        d = asdict(self)
        if isinstance(self.scheme, Scheme):
            d["scheme"] = self.scheme.to_json()
        elif not isinstance(self.scheme, (str, dict)):
            d["scheme"] = str(self.scheme)
        return d


def loss_of(g: Graph, cfg: TrainConfig) -> str:
    """The loss: cfg.loss, else MSE reconstruction for a model whose output has its input's
    size (an autoencoder, like MLPerf Tiny's) and no new head, else cross-entropy."""
    if cfg.loss:
        if cfg.loss == "mse" and cfg.classes:
            raise UsageError("--loss mse reconstructs the input: it takes no new head (--classes)")
        if cfg.loss == "mse" and g.values[g.outputs[0]].size != g.values[g.inputs[0]].size:
            raise UsageError(f"--loss mse reconstructs the input: the output "
                             f"{list(g.values[g.outputs[0]].shape)} must have the input's size "
                             f"{list(g.values[g.inputs[0]].shape)}")
        return cfg.loss
    same = g.values[g.outputs[0]].size == g.values[g.inputs[0]].size
    return "mse" if same and not cfg.classes else "ce"


def _flat_float(b: GraphBuilder, v: str, name: str) -> str:
    """v as float32 [1, size]: dequantized when int8, flattened when of another rank."""
    val = b.value(v)
    if val.dtype == "i8":
        v = b.emit1("dequantize", [v], dict(scale=val.q.s, zero=val.q.zero_point), name=f"{name}.f")
    if len(val.shape) != 2:
        v = b.emit1("reshape", [v], dict(shape=(int(np.prod(val.shape[1:])),)), name=f"{name}.flat")
    return v


def _node_index(b: GraphBuilder, out_name: str) -> int:
    return next(i for i, n in enumerate(b.nodes) if out_name in n.outputs)


def _rewire(b: GraphBuilder, idx: int, old: str, new: str):
    n = b.nodes[idx]
    b.nodes[idx] = replace(n, inputs=tuple(new if v == old else v for v in n.inputs))


def _trained_entries(b, g, layers, plan, cfg):
    """Decide the updated value, consumed value, slice and QAS factor of each parameter."""
    entries, subsets = [], {}
    for L in layers:
        p = plan.get(L.index)
        if p is None:
            continue
        node = g.nodes[L.node]
        y = node.outputs[0]
        xv, wv = g.values[node.inputs[0]], g.values[L.weight]
        integer = xv.dtype == "i8"
        axis = 0 if L.depthwise else 1  # the input-channel axis of w
        kinds = ([("weight", L.weight, p["channels"])] if p["ratio"] > 0 else []) + \
                ([("bias", L.bias, None)] if p["bias"] else [])
        for kind, pname, ch in kinds:
            pv = g.values[pname]
            ax = axis if kind == "weight" else 0
            rows = ch if (kind == "weight" and L.depthwise) else None
            qas = None
            if integer and cfg.qas:
                qas = weight_qas(wv.q.scale, rows) if kind == "weight" else bias_qas(wv.q.scale, xv.q.s)
            consumed, updated, upd_ch = pname, pname, ch
            if pv.dtype != "f32" and cfg.storage == "fp32":
                master = b.param(f"{pname}.master",
                                 take_slice(g.consts[pname], ch, ax).astype(np.float32), "f32")
                idx = _node_index(b, y)
                consumed = b.emit1("round_master", [pname, master], dict(channels=ch, axis=ax),
                                   name=f"{pname}.q", at=idx)
                _rewire(b, idx + 1, pname, consumed)
                updated, upd_ch = master, None
            if kind == "weight" and ch is not None:
                subsets[consumed] = ch
            entries.append(dict(layer=L.index, kind=kind, param=updated, consumed=consumed,
                                source=pname, channels=upd_ch, axis=ax, qas=qas,
                                selected=None if ch is None else list(ch)))
    return entries, subsets


def _layer_info(L, p) -> dict:
    p = p or {"bias": False, "ratio": 0.0, "channels": None}
    return dict(index=L.index, op=L.op, weight=L.weight, bias=L.bias, train_bias=p["bias"],
                ratio=p["ratio"], channels=None if p["channels"] is None else list(p["channels"]))


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v  # numpy scalars as Python numbers


def check_config(cfg: TrainConfig) -> TrainConfig:
    """Raise UsageError naming the first field of `cfg` out of its range (the CLI checks the
    same ranges where it parses the options; this guards the Python API)."""
    if not isinstance(cfg, TrainConfig):
        raise UsageError(f"expected a TrainConfig, got {type(cfg).__name__}")
    if not isinstance(cfg.storage, str) or cfg.storage not in STORAGES:
        raise UsageError(f"storage must be one of {', '.join(STORAGES)}, got {cfg.storage!r}")
    check_range("lr", _plain(cfg.lr), lo=0, lo_open=True)
    check_range("momentum", _plain(cfg.momentum), 0, 1, hi_open=True)
    check_range("weight_decay", _plain(cfg.weight_decay), lo=0)
    for name, v, lo, hi in (("seed", cfg.seed, 0, 2**32 - 1),
                            ("classes", cfg.classes, 1, MAX_CLASSES)):
        v = _plain(v)
        if name == "classes" and v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):  # 3.0 is not a count
            raise UsageError(f"{name} must be an integer, got {v!r}")
        check_range(name, v, lo, hi, integer=True)
    if cfg.loss is not None and cfg.loss not in LOSSES:
        raise UsageError(f"loss must be one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    if not isinstance(_plain(cfg.qas), bool):
        raise UsageError(f"qas must be True or False, got {cfg.qas!r}")
    return cfg


def make_training_graph(g: Graph, cfg: TrainConfig = TrainConfig()) -> Graph:
    check_config(cfg)
    if len(g.outputs) != 1:
        raise InputError(f"expected an inference graph with one output (the logits), got "
                         f"{len(g.outputs)} outputs (a training graph?)")
    if cfg.classes:
        g = replace_head(g, cfg.classes, cfg.seed)
    layers = find_layers(g)
    scheme = parse_scheme(cfg.scheme, len(layers))
    fresh = g.meta.get("fresh_head")
    plan = resolve_scheme(scheme, layers, g, always_full=(fresh,) if fresh else ())

    b = GraphBuilder(g)
    entries, subsets = _trained_entries(b, g, layers, plan, cfg)
    logits = g.outputs[0]
    lv = b.value(logits)
    label = b.input("label", (1,), "i32")
    lr = b.input("lr", (), "f32")
    step = b.input("step", (), "i32")
    kind = loss_of(g, cfg)
    z = _flat_float(b, logits, "logits")
    if kind == "mse":  # a reconstruction: the target is the model's (dequantized) input
        loss = b.emit1("mse", [z, _flat_float(b, g.inputs[0], "target")], name="loss")
    else:
        loss = b.emit1("softmax_ce", [z, label], name="loss")
    fwd = b.build([loss, logits])

    g2, grads = append_backward(fwd, loss, subsets)
    b2 = GraphBuilder(g2)
    b2.phase = "upd"
    outputs = [loss, logits]
    for pid, e in enumerate(entries):
        grad = grads.get(e["param"])
        if grad is None:
            raise InputError(f"parameter %{e['param']} does not affect the loss")
        ins = [e["param"], grad, lr, step]
        names = [f"{e['param']}.new"]
        e["mom"] = None
        if cfg.momentum:
            gshape = b2.value(grad).shape
            e["mom"] = b2.param(f"{e['param']}.mom", np.zeros(gshape, np.float32), "f32", role="state")
            ins.append(e["mom"])
            names.append(f"{e['param']}.mom.new")
        outs = b2.emit("sgd_update", ins, dict(
            qas=e["qas"], momentum=cfg.momentum, weight_decay=cfg.weight_decay,
            channels=e["channels"], axis=e["axis"], seed=cfg.seed, param_id=pid), names)
        e["new"] = outs[0]
        e["mom_new"] = outs[1] if cfg.momentum else None
        outputs += list(outs)
    meta = dict(g2.meta, train=dict(
        loss=loss, logits=logits, label=label, lr=lr, step=step, input=g.inputs[0],
        entries=[{k: v for k, v in e.items() if k != "qas"} for e in entries],
        layers=[_layer_info(L, plan.get(L.index)) for L in layers],
        scheme=scheme.to_json(), config=cfg.to_json(), **({"loss_kind": kind} if kind != "ce" else {})))
    tg = b2.build(outputs).replace(meta=meta)
    return verify(run_passes(tg, TRAINING_PASSES))
