"""Parameter updates: sgd_update (QAS, momentum, weight decay, stochastic rounding) and
round_master (the int8/int32 value a float master copy stands for in the forward pass).

sgd_update(param, grad, lr, step[, mom]) -> param'[, mom'], on the trained slice
`take(param, channels, axis)` (all of it when channels is None). In float32:
    d     = grad * qas + weight_decay * w       qas: per-output-channel factor or 1
    m'    = momentum * m + d ;  d = m'          (only with momentum)
    delta = -(lr * d)
    f32 param:        w' = w + delta
    i8 / i32 param:   w' = clamp(w + floor(delta + u))   u in [0, 1) from the counter PRNG
where i8 clamps to [-127, 127] and i32 saturates. floor(delta + u) is delta stochastically
rounded: its mean is delta, so steps smaller than one quantization step survive on average.

QAS (quant/qas.py computes the factors): a weight row of output channel o gets
qas = s_w[o]^-2, a bias entry qas = (s_w[o] * s_x)^-2.

The PRNG is counter-based (a 32-bit integer hash), so element i of the update of parameter
p at step t draws u = hash(seed, p, t, i) with no sequential state, identically in C:
    key = mix32(seed ^ mix32(param_id ^ mix32(step)))
    u_i = (mix32(key + i * 0x9E3779B9) >> 8) * 2^-24
"""
from __future__ import annotations

import numpy as np

from .cabi import initializer
from .common import check, hwc
from .conv_c import grad_weight_geom, group_saved_channel
from .registry import OpDef, register

GOLDEN = np.uint32(0x9E3779B9)


def mix32(x) -> np.ndarray:
    """A 32-bit integer finalizer hash (xorshift-multiply), elementwise on uint32."""
    x = np.asarray(x, dtype=np.uint32).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return x


def uniform01(seed: int, param_id: int, step: int, count: int) -> np.ndarray:
    """count float32 draws in [0, 1) for one parameter update (24-bit resolution)."""
    key = mix32(np.uint32(seed & 0xFFFFFFFF) ^ mix32(np.uint32(param_id & 0xFFFFFFFF)
                                                     ^ mix32(np.uint32(step & 0xFFFFFFFF))))
    with np.errstate(over="ignore"):
        idx = np.arange(count, dtype=np.uint32) * GOLDEN + key
    return (mix32(idx) >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


INT_RANGE = {np.dtype(np.int8): (-127, 127), np.dtype(np.int32): (-(2**31), 2**31 - 1)}


def take_slice(param: np.ndarray, channels, axis: int) -> np.ndarray:
    if channels is None:
        return param
    return np.take(param, list(channels), axis=axis)


def put_slice(param: np.ndarray, channels, axis: int, new: np.ndarray) -> np.ndarray:
    if channels is None:
        return new.astype(param.dtype)
    out = param.copy()
    idx = [slice(None)] * param.ndim
    idx[axis] = list(channels)
    out[tuple(idx)] = new
    return out


def _rows(v, n, ndim):
    return np.asarray(v, np.float32).reshape((n,) + (1,) * (ndim - 1))


def sgd_reference(param, grad, lr, step, mom, a):
    """The update rule on arrays; returns (new param, new momentum or None)."""
    ch, axis = a.get("channels"), a.get("axis", 0)
    w = take_slice(param, ch, axis)
    d = grad.astype(np.float32)
    if a.get("qas") is not None:
        d = d * _rows(a["qas"], d.shape[0], d.ndim)
    wd = np.float32(a.get("weight_decay", 0.0))
    if wd:
        d = d + wd * w.astype(np.float32)
    new_m = None
    if mom is not None:
        new_m = np.float32(a["momentum"]) * mom + d
        d = new_m
    delta = -(np.float32(lr) * d)
    if param.dtype == np.float32:
        new = w + delta
    else:
        lo, hi = INT_RANGE[param.dtype]
        u = uniform01(a.get("seed", 0), a.get("param_id", 0), int(np.asarray(step).reshape(-1)[0]),
                      delta.size)
        r = np.floor(delta + u.reshape(delta.shape))
        r = np.clip(r, -(2.0**32), 2.0**32).astype(np.int64)
        new = np.clip(w.astype(np.int64) + r, lo, hi)
    return put_slice(param, ch, axis, new.astype(param.dtype)), new_m


def _sgd_infer(ins, a):
    p, g = ins[0], ins[1]
    ch, axis = a.get("channels"), a.get("axis", 0)
    want = list(p.shape)
    if ch is not None:
        want[axis] = len(ch)
    check(tuple(want) == g.shape, f"sgd_update: gradient {list(g.shape)} != trained slice {want}")
    outs = [(p.shape, p.dtype, p.q)]
    if len(ins) == 5:
        check(ins[4].shape == g.shape, "sgd_update: momentum buffer shape != gradient shape")
        outs.append((g.shape, "f32", None))
    return outs


def _sgd_ref(ins, a):
    param, grad, lr, step = ins[:4]
    mom = ins[4] if len(ins) == 5 else None
    new, new_m = sgd_reference(param, grad, lr, step, mom, a)
    return [new] if new_m is None else [new, new_m.astype(np.float32)]


def sgd_struct(ctx, a, param, gshape) -> tuple:
    rows = gshape[0] if gshape else 1
    row_len = int(np.prod(gshape[1:])) if len(gshape) > 1 else 1
    qas = ctx.table(f"{param}.qas", "float", a["qas"]) if a.get("qas") is not None else "NULL"
    init = initializer("mct_sgd", [
        "mct_lr", ctx.c_float(a.get("momentum", 0.0)),
        ctx.c_float(a.get("weight_decay", 0.0)), qas, row_len,
        f"{a.get('seed', 0)}u", f"{a.get('param_id', 0)}u", "mct_step"])
    decl = f"const mct_sgd s = {init};"
    kind = {"i8": "s8", "i32": "s32", "f32": "f32"}[ctx.values[param].dtype]
    return decl, kind, rows, row_len


def _emit_sgd_update(ctx, i, n):
    param, grad = n.inputs[0], n.inputs[1]
    mom = ctx.ref(n.inputs[4]) if len(n.inputs) == 5 else "NULL"
    decl, kind, rows, _ = sgd_struct(ctx, n.attrs, param, ctx.values[grad].shape)
    return ["{", "  " + decl,
            f"  st |= mct_sgd_{kind}(&s, 0, {rows}, {ctx.ref(param)}, {ctx.ref(grad)}, {mom});",
            "}"]


register(OpDef("sgd_update", _sgd_infer, _sgd_ref, None,
               lambda ins, outs, a: 3 * int(np.prod(ins[1].shape)),
               "SGD step on the trained slice with QAS, momentum, weight decay and "
               "stochastic rounding for integer storage",
               emit=_emit_sgd_update))


def _rm_infer(ins, a):
    frozen, master = ins
    ch, axis = a.get("channels"), a.get("axis", 0)
    want = list(frozen.shape)
    if ch is not None:
        want[axis] = len(ch)
    check(tuple(want) == master.shape, f"round_master: master {list(master.shape)} != {want}")
    return [(frozen.shape, frozen.dtype, frozen.q)]


def _rm_ref(ins, a):
    frozen, master = ins
    lo, hi = INT_RANGE[frozen.dtype]
    q = np.clip(np.rint(master.astype(np.float64)), lo, hi)
    return [put_slice(frozen, a.get("channels"), a.get("axis", 0), q.astype(frozen.dtype))]


def _emit_round_master(ctx, i, n):
    frozen, master = n.inputs
    kind = "s8" if ctx.values[frozen].dtype == "i8" else "s32"
    cnt = ctx.param_size(master)
    return [f"st |= mct_round_master_{kind}({cnt}, {ctx.ref(master)}, {ctx.ref(n.outputs[0])});"]


register(OpDef("round_master", _rm_infer, _rm_ref, lambda gb, n, gys: [None, gys[0]], None,
               "int value = clamp(round_half_even(master)) on the trained slice, frozen "
               "values elsewhere; straight-through gradient to the master",
               emit=_emit_round_master))


# ---- fused weight gradient + update (passes/fuse.py): the whole dW never exists ---------------

def _wgu_infer(ins, a):
    from .registry import get_op

    x, g, p = ins[:3]
    (gshape, gdt, _), = get_op(a["grad_op"]).infer([x, g], a["grad"])
    from ..ir.graph import Value

    gv = Value("g", gshape, gdt)
    return _sgd_infer([p, gv] + list(ins[3:]), a["sgd"])


def _wgu_ref(ins, a):
    from .registry import get_op

    x, g, param, lr, step = ins[:5]
    grad = get_op(a["grad_op"]).ref([x, g], a["grad"])[0]
    mom = ins[5] if len(ins) == 6 else None
    new, new_m = sgd_reference(param, grad, lr, step, mom, a["sgd"])
    return [new] if new_m is None else [new, new_m.astype(np.float32)]


def _wgu_macs(ins, outs, a):
    from .registry import get_op

    return 0 if a["grad_op"] not in ("conv2d_grad_weight", "linear_grad_weight") else \
        get_op(a["grad_op"]).count_macs(ins[:2], [outs[0]], a["grad"]) + 3 * int(np.prod(outs[0].shape))


def wg_slice_shape(ctx, n) -> list:
    """Shape of the trained slice a fused weight_grad_update writes gradient rows for."""
    a = n.attrs["sgd"]
    shape = list(ctx.values[n.inputs[2]].shape)
    if a.get("channels") is not None:
        shape[a.get("axis", 0)] = len(a["channels"])
    return shape


def wg_row_bytes(ctx, n) -> int:
    """Bytes of one float gradient row (first dimension) of that slice."""
    return 4 * int(np.prod(wg_slice_shape(ctx, n)[1:]))


def _scratch_weight_grad_update(ctx, i, n) -> int:
    """The gradient rows of one block (ctx.wg_block: rows per step, the plan's choice)."""
    return wg_row_bytes(ctx, n) * ctx.wg_block(n)


def _emit_weight_grad_update(ctx, i, n):
    """One output channel at a time: its gradient row into scratch, then its update."""
    xs, gy, param = n.inputs[:3]
    mom = ctx.ref(n.inputs[5]) if len(n.inputs) == 6 else "NULL"
    a, ga = n.attrs["sgd"], n.attrs["grad"]
    gshape = wg_slice_shape(ctx, n)
    decl, kind, rows, row_len = sgd_struct(ctx, a, param, gshape)
    row = ctx.scratch(i)
    upd = f"st |= mct_sgd_{kind}(&s, r, 1, {ctx.ref(param)}, {row}, {mom});"
    if n.attrs["grad_op"] == "linear_grad_weight" and ga.get("w_scale") is None:
        grad = f"st |= mct_outer_f32(1, {row_len}, {ctx.ref(gy)} + r, {ctx.ref(xs)}, {row});"
    else:
        n_ch, groups = hwc(ctx.values[xs].shape)[2], ga.get("groups", 1)
        kernel = (gshape[2], gshape[3]) if len(gshape) == 4 else (1, 1)
        geo = grad_weight_geom(ctx, n, ctx.sym(f"{param}.wg", "G_"), ga, kernel)
        sc = ctx.table(f"{param}.w_scale", "float", ga["w_scale"])
        xz, xsc = ga["x_zero"], ctx.c_float(ga["x_scale"])
        chans = ga.get("channels")
        if groups > 1:
            gyc = f"{ctx.table(f'{param}.rows', 'int32_t', chans)}[r]" if chans else "r"
            xs_c = group_saved_channel(ctx, n, chans, ga)
            grad = (f"st |= mct_conv2d_grad_weight_row_f32(&{geo}, {ctx.ref(xs)}, {n_ch}, {xz}, "
                    f"{xsc}, {ctx.ref(gy)}, {gyc}, {xs_c}, {sc}[{gyc}], {row});")
        else:
            blk = ctx.wg_block(n)
            if blk > 1:  # a block of rows, then their update
                nr = f"{rows} - r < {blk} ? {rows} - r : {blk}"
                return ["{", "  " + decl, f"  for (int32_t r = 0; r < {rows}; r += {blk}) {{",
                        f"    const int32_t nr = {nr};",
                        f"    st |= mct_conv2d_grad_weight_rows_f32(&{geo}, {ctx.ref(xs)}, {n_ch}, "
                        f"{xz}, {xsc}, {ctx.ref(gy)}, r, nr, {sc}, {row});",
                        f"    st |= mct_sgd_{kind}(&s, r, nr, {ctx.ref(param)}, {row}, {mom});",
                        "  }", "}"]
            grad = (f"st |= mct_conv2d_grad_weight_row_f32(&{geo}, {ctx.ref(xs)}, {n_ch}, {xz}, "
                    f"{xsc}, {ctx.ref(gy)}, r, 0, {sc}[r], {row});")
    return ["{", "  " + decl, f"  for (int32_t r = 0; r < {rows}; ++r) {{",
            "    " + grad, "    " + upd, "  }", "}"]


register(OpDef("weight_grad_update", _wgu_infer, _wgu_ref, None, _wgu_macs,
               "grad_op(x_saved, G) then sgd_update, one output channel (row) at a time: "
               "inputs x_saved, G, param, lr, step[, mom]",
               emit=_emit_weight_grad_update, scratch=_scratch_weight_grad_update))
