"""The C side of the conv family (conv.py registers it): each op's kernel call (emit), the
caller-owned scratch its kernel needs (scratch, the memory plan reads it), and what the C
cannot run (c_check). ctx: registry.py's module docstring. The kernels: runtime/src/conv.c,
conv_grad.c, inplace*.c, stream.c; their contracts: runtime/include/mct.h."""
from __future__ import annotations

from .common import hwc, tflm


def _mode(ctx, i, n):
    """The in-place form (passes/inplace.py's attrs["inplace"]) when the plan kept it."""
    return n.attrs.get("inplace") if ctx.mode(i) == "inplace" else None


# ---- conv2d --------------------------------------------------------------------------------

def emit_conv2d(ctx, i, n):
    x, w, b = n.inputs
    geo = ctx.geom(n, x, n.outputs[0], ctx.values[w].shape[2:])
    wexpr, pre, ws = ctx.weights(w)
    rq, y = ctx.requant(n.outputs[0], n.attrs), ctx.ref(n.outputs[0])
    mode = _mode(ctx, i, n)
    tmp = ctx.scratch(i, "int8_t") if mode else None
    tf = tflm(n.attrs)
    if mode in ("pointwise", "depthwise"):
        call = f"mct_{mode}_s8_inplace{tf}(&{geo}, &{rq}, {y}, {wexpr}, {ws}, {ctx.ref(b)}, {tmp})"
    elif mode == "rows":
        call = (f"mct_conv2d_s8_rows{tf}(&{geo}, &{rq}, {ctx.ref(x)}, {wexpr}, {ws}, {ctx.ref(b)}, "
                f"{y}, {tmp})")
    else:
        call = f"mct_conv2d_s8{tf}(&{geo}, &{rq}, {ctx.ref(x)}, {wexpr}, {ws}, {ctx.ref(b)}, {y})"
    return ctx.block(pre, call)


def scratch_conv2d(ctx, i, n) -> int:
    """In place: one input pixel (pointwise), one output channel (depthwise), one output
    row (rows)."""
    mode = _mode(ctx, i, n)
    if not mode:
        return 0
    (_, _, ic), (oh, ow, oc) = (hwc(ctx.values[v].shape) for v in (n.inputs[0], n.outputs[0]))
    return {"pointwise": ic, "depthwise": oh * ow, "rows": ow * oc}[mode]


def check_conv2d(ctx, n):
    if ctx.values[n.inputs[0]].dtype != "i8":
        return "float conv2d is not compiled to C (quantize the model first)"
    return None


def check_backward(ctx, n):
    if n.attrs.get("w_scale") is None:
        return "float conv2d backward is not compiled to C"
    return None


# ---- expand_depthwise ------------------------------------------------------------------------

def _expand_row_ring(kh: int, w: int, e: int) -> int:
    """Bytes of the ring of kh expanded rows, rounded to 16 (the work area follows it)."""
    return (kh * w * e + 15) // 16 * 16


def emit_expand_depthwise(ctx, i, n):
    x, w1, b1, w2, b2 = n.inputs
    e, y = ctx.values[x], n.outputs[0]
    ih, iw, _ = hwc(e.shape)
    oc1 = ctx.values[w1].shape[0]
    oh, ow, oc2 = hwc(ctx.values[y].shape)
    a1, a2 = n.attrs["pw"], n.attrs["dw"]
    k2 = ctx.values[w2].shape[2:]
    g1 = ctx.struct(ctx.sym(y + ".pw", "G_"), "mct_conv_geom",
                    [ih, iw, e.shape[1], ih, iw, oc1, 1, 1, 1, 1, 0, 0, 1])
    s2, p2 = a2.get("stride", (1, 1)), a2.get("padding", (0, 0))
    g2 = ctx.struct(ctx.sym(y + ".dw", "G_"), "mct_conv_geom",
                    [ih, iw, oc1, oh, ow, oc2, k2[0], k2[1], s2[0], s2[1], p2[0], p2[1],
                     a2.get("groups", oc1)])
    q1, q2 = ctx.requant(y + ".pw", a1), ctx.requant(y + ".dw", a2)
    args = (f"&{g1}, &{q1}, {ctx.ref(w1)}, {ctx.ref(b1)}, &{g2}, &{q2}, {ctx.ref(w2)}, "
            f"{ctx.ref(b2)}, {ctx.ref(x)}, {ctx.ref(y)}")
    if ctx.mode(i) == "inplace":  # streamed by rows over its consumed input
        ring = ctx.scratch(i, "int8_t")
        return [f"st |= mct_expand_dw_s8_rows{tflm(a2)}({args}, {ring}, "
                f"{ring} + {_expand_row_ring(k2[0], iw, oc1)});"]
    return [f"st |= mct_expand_dw_s8{tflm(a2)}({args}, {ctx.scratch(i, 'int8_t')});"]


def scratch_expand_depthwise(ctx, i, n) -> int:
    """Streamed: the ring of k_h expanded rows, then MCT_EXPAND_DW_WORK; else one expanded
    channel (h * w bytes)."""
    h, w, _ = hwc(ctx.values[n.inputs[0]].shape)
    oh, ow, e = hwc(ctx.values[n.outputs[0]].shape)
    kh, kw = ctx.values[n.inputs[3]].shape[2:]
    if ctx.mode(i) != "inplace":
        return h * w
    work = (ow * e + kh * kw * e + 15) // 16 * 16 + 4 * e  # MCT_EXPAND_DW_WORK
    return _expand_row_ring(kh, w, e) + work


# ---- backward --------------------------------------------------------------------------------

def emit_grad_input(ctx, i, n):
    gy, w = n.inputs
    gx = n.outputs[0]
    geo = ctx.geom(n, gx, gy, ctx.values[w].shape[2:])
    wexpr, pre, ws = ctx.weights(w)
    sc = ctx.table(f"{w}.w_scale", "float", n.attrs["w_scale"])
    mode = _mode(ctx, i, n)
    if mode:
        return ctx.block(pre, f"mct_{mode}_grad_input_f32_inplace(&{geo}, {ctx.ref(gx)}, "
                              f"{wexpr}, {ws}, {sc}, {ctx.scratch(i)})")
    return ctx.block(pre, f"mct_conv2d_grad_input_f32(&{geo}, {ctx.ref(gy)}, {wexpr}, {ws}, "
                          f"{sc}, {ctx.ref(gx)})")


def scratch_grad_input(ctx, i, n) -> int:
    """In place: one pixel's output-gradient channels (pointwise), or one output and one
    input channel plane (depthwise), as floats."""
    mode = _mode(ctx, i, n)
    if not mode:
        return 0
    (ih, iw, _), (oh, ow, oc) = (hwc(ctx.values[v].shape) for v in (n.outputs[0], n.inputs[0]))
    return 4 * (oc if mode == "pointwise" else oh * ow + ih * iw)


def group_in_c(ctx, n, ga=None) -> tuple:
    """(in_c, channels per group) of a conv's weight gradient (conv.conv_kind): one channel
    per group when depthwise or when a channel subset (only ever of a depthwise conv) is
    saved."""
    from .conv import conv_kind

    ga = ga or n.attrs
    groups, n_ch = ga.get("groups", 1), hwc(ctx.values[n.inputs[0]].shape)[2]
    if groups == 1:
        return n_ch, n_ch
    kind = conv_kind(n_ch, n_ch, 1, 1, 0, groups)
    cg = 1 if ga.get("channels") is not None or kind == "depthwise" else n_ch // groups
    return groups * cg, cg


def group_saved_channel(ctx, n, chans, ga=None) -> str:
    """First saved-input channel of weight row r of a grouped conv: the gathered entry r
    (a depthwise slice), else (r / out channels per group) * channels per group."""
    if chans:
        return "r"
    ga = ga or n.attrs
    og = ctx.values[n.inputs[1]].shape[1] // ga.get("groups", 1)
    cg = group_in_c(ctx, n, ga)[1]
    first = "r" if og == 1 else f"(r / {og})"
    return first if cg == 1 else f"{first} * {cg}"


def grad_weight_rows(ctx, n, geo, xs, n_ch, gy, gw, rows, row_len, chans, grouped):
    """The whole weight gradient: row by row for a grouped conv, else all rows in one call."""
    a = n.attrs
    sc = ctx.table(f"{gw}.w_scale", "float", a["w_scale"])
    xz, xsc = a["x_zero"], ctx.c_float(a["x_scale"])
    if grouped:
        gyc = ctx.table(f"{gw}.rows", "int32_t", chans) if chans else None
        gy_c = f"{gyc}[r]" if gyc else "r"
        xs_c = group_saved_channel(ctx, n, chans)
        return [f"for (int32_t r = 0; r < {rows}; ++r)",
                f"  st |= mct_conv2d_grad_weight_row_f32(&{geo}, {ctx.ref(xs)}, {n_ch}, {xz}, "
                f"{xsc}, {ctx.ref(gy)}, {gy_c}, {xs_c}, {sc}[{gy_c}], {ctx.ref(gw)} + r * {row_len});"]
    return [f"st |= mct_conv2d_grad_weight_rows_f32(&{geo}, {ctx.ref(xs)}, {n_ch}, {xz}, "
            f"{xsc}, {ctx.ref(gy)}, 0, {rows}, {sc}, {ctx.ref(gw)});"]


def grad_weight_geom(ctx, n, sym, ga, kernel) -> str:
    """The mct_conv_geom of a conv's weight gradient (in_c: the layer's, group_in_c)."""
    (ih, iw, _), (oh, ow, oc) = (hwc(ctx.values[v].shape) for v in n.inputs[:2])
    s, p = ga.get("stride", (1, 1)), ga.get("padding", (0, 0))
    kh, kw = kernel
    return ctx.struct(sym, "mct_conv_geom", [ih, iw, group_in_c(ctx, n, ga)[0], oh, ow, oc, kh,
                                             kw, s[0], s[1], p[0], p[1], ga.get("groups", 1)])


def emit_grad_weight(ctx, i, n):
    xs, gy = n.inputs
    gw = n.outputs[0]
    gwv = ctx.values[gw]
    geo = grad_weight_geom(ctx, n, ctx.sym(gw, "G_"), n.attrs, gwv.shape[2:])
    rows, row_len = gwv.shape[0], _prod(gwv.shape[1:])
    return grad_weight_rows(ctx, n, geo, xs, hwc(ctx.values[xs].shape)[2], gy, gw, rows,
                            row_len, n.attrs.get("channels"), n.attrs.get("groups", 1) > 1)


def emit_grad_bias(ctx, i, n):
    g = n.inputs[0]
    h, w, c = hwc(ctx.values[g].shape)
    bs = n.attrs.get("b_scale")
    sc = ctx.table(f"{n.outputs[0]}.b_scale", "float", bs) if bs is not None else "NULL"
    return [f"st |= mct_bias_grad_f32({h * w}, {c}, {ctx.ref(g)}, {sc}, {ctx.ref(n.outputs[0])});"]


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= int(x)
    return out
