"""The losses, on float outputs (dequantized when the model's output is int8).

softmax_ce: loss = mean_n ( logsumexp(z_n) - z_n[label_n] );  dL/dz = (softmax(z) - onehot) / N.
mse:        loss = mean over all elements of (z - t)^2;         dL/dz = 2 (z - t) / size
            (t: the target, for a reconstruction the dequantized input; no gradient to it).
"""
from __future__ import annotations

import numpy as np

from .common import check, f32, float_type
from .registry import OpDef, register


def _infer(ins, a):
    z, y = ins
    check(z.dtype == "f32", "softmax_ce expects float32 logits (dequantize int8 ones first)")
    check(len(z.shape) == 2 and y.shape == (z.shape[0],), f"softmax_ce: logits {list(z.shape)}, "
          f"labels {list(y.shape)}")
    return [float_type(())]


def _log_softmax(z):
    """log softmax with log1p over the non-maximal terms (accurate for confident rows)."""
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    rest = e.sum(axis=1, keepdims=True) - 1.0  # the max term is exactly 1
    return z - m - np.log1p(rest)


def _ref(ins, a):
    z, y = ins
    ls = _log_softmax(z)
    return [f32(-ls[np.arange(len(y)), y.astype(np.int64)].mean())]


def _grad(gb, node, gys):
    return [gb.emit1("softmax_ce_grad", list(node.inputs)), None]


def _emit_softmax_ce(ctx, i, n):
    z = n.inputs[0]
    return [f"loss = mct_softmax_ce_f32({ctx.n(z)}, {ctx.ref(z)}, label, NULL);"]


register(OpDef("softmax_ce", _infer, _ref, _grad, None, "mean softmax cross-entropy",
               emit=_emit_softmax_ce))


def _g_infer(ins, a):
    return [float_type(ins[0].shape)]


def _g_ref(ins, a):
    z, y = ins
    ls = _log_softmax(z)
    p = np.exp(ls)
    rows, lab = np.arange(len(y)), y.astype(np.int64)
    # p[label] - 1 = -(sum of the other probabilities), without cancellation
    others = p.copy()
    others[rows, lab] = 0.0
    p[rows, lab] = -others.sum(axis=1)
    return [f32(p / len(y))]


def _emit_softmax_ce_grad(ctx, i, n):
    z = n.inputs[0]
    return [f"(void)mct_softmax_ce_f32({ctx.n(z)}, {ctx.ref(z)}, label, {ctx.ref(n.outputs[0])});"]


register(OpDef("softmax_ce_grad", _g_infer, _g_ref, None, None, "(softmax(z) - onehot) / N",
               emit=_emit_softmax_ce_grad))


def _mse_infer(ins, a):
    z, t = ins
    check(z.dtype == "f32" and t.dtype == "f32", "mse expects float32 output and target "
          "(dequantize int8 ones first)")
    check(z.shape == t.shape, f"mse: output {list(z.shape)} and target {list(t.shape)} differ")
    return [float_type(())]


def _mse_ref(ins, a):
    z, t = (v.astype(np.float64) for v in ins)
    return [f32(((z - t) ** 2).mean())]


def _mse_grad(gb, node, gys):
    return [gb.emit1("mse_grad", list(node.inputs)), None]


def _emit_mse(ctx, i, n):
    z, t = n.inputs
    return [f"loss = mct_mse_f32({ctx.n(z)}, {ctx.ref(z)}, {ctx.ref(t)}, NULL);"]


register(OpDef("mse", _mse_infer, _mse_ref, _mse_grad, None,
               "mean squared error against a target (a reconstruction's input)", emit=_emit_mse))


def _mse_g_ref(ins, a):
    z, t = (v.astype(np.float64) for v in ins)
    return [f32(2.0 * (z - t) / z.size)]


def _emit_mse_grad(ctx, i, n):
    z, t = n.inputs
    return [f"(void)mct_mse_f32({ctx.n(z)}, {ctx.ref(z)}, {ctx.ref(t)}, {ctx.ref(n.outputs[0])});"]


register(OpDef("mse_grad", _g_infer, _mse_g_ref, None, None, "2 (z - t) / size",
             emit=_emit_mse_grad))
