"""Op definitions: one OpDef per op (shape rule, reference, gradient rule, MAC count), the
graph builder that applies the shape rules, and the verifier."""
from .builder import GraphBuilder
from .registry import OpDef, all_ops, get_op, register

__all__ = ["GraphBuilder", "OpDef", "all_ops", "get_op", "register"]
