"""The IR: typed SSA values, nodes, graphs; printer and verifier."""
from .dtype import F32, I8, I32, NP_DTYPE, QParams
from .graph import Graph, GraphBuilder, Node, Value

__all__ = ["F32", "I8", "I32", "NP_DTYPE", "QParams", "Graph", "GraphBuilder", "Node", "Value"]
