"""The C parameter structs of runtime/include/mct.h, described once: fields in order, with
their C types. Codegen writes designated initializers from it (codegen/c.py add_struct),
the kernel tests build their ctypes bindings from it (tests/c/conftest.py), and
tests/c/test_cabi.py checks it against mct.h with the C compiler (offsetof / sizeof)."""
from __future__ import annotations

STRUCTS = {
    "mct_conv_geom": (
        ("in_h", "int32_t"), ("in_w", "int32_t"), ("in_c", "int32_t"),
        ("out_h", "int32_t"), ("out_w", "int32_t"), ("out_c", "int32_t"),
        ("k_h", "int32_t"), ("k_w", "int32_t"), ("stride_h", "int32_t"),
        ("stride_w", "int32_t"), ("pad_h", "int32_t"), ("pad_w", "int32_t"),
        ("groups", "int32_t")),
    "mct_requant": (
        ("x_zero", "int32_t"), ("y_zero", "int32_t"), ("act_min", "int32_t"),
        ("act_max", "int32_t"), ("mult", "const int32_t *"), ("shift", "const int32_t *")),
    "mct_wsplit": (("wt", "const int8_t *"), ("sel", "const int32_t *"), ("n_sel", "int32_t")),
    "mct_add_params": tuple((f, "int32_t") for f in (
        "x_zero", "y_zero_in", "y_zero", "act_min", "act_max", "left_shift", "x_mult",
        "x_shift", "y_mult", "y_shift", "out_mult", "out_shift")),
    "mct_sgd": (
        ("lr", "float"), ("momentum", "float"), ("weight_decay", "float"),
        ("qas", "const float *"), ("row_len", "int32_t"), ("seed", "uint32_t"),
        ("param_id", "uint32_t"), ("step", "uint32_t")),
    "mct_pad_geom": tuple((f, "int32_t") for f in (
        "in_h", "in_w", "c", "top", "bottom", "left", "right")),
    "mct_pool_geom": tuple((f, "int32_t") for f in (
        "in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "top",
        "bottom", "left", "right")),
    "mct_softmax_params": tuple((f, "int32_t") for f in (
        "input_multiplier", "input_left_shift", "diff_min")),
}


def fields(struct: str) -> list:
    return [f for f, _ in STRUCTS[struct]]


def initializer(struct: str, values) -> str:
    """`{.field = value, ...}` of a struct, values (C expressions) in field order."""
    names = fields(struct)
    vals = list(values)
    if len(vals) != len(names):
        raise ValueError(f"{struct} has {len(names)} fields, got {len(vals)} values")
    return "{" + ", ".join(f".{f} = {v}" for f, v in zip(names, vals)) + "}"
