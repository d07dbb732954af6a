"""Op definitions: one OpDef per op (shape rule, reference, gradient rule, MAC count)."""
from .registry import OpDef, all_ops, get_op, register

__all__ = ["OpDef", "all_ops", "get_op", "register"]
