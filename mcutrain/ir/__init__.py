"""The IR: typed SSA values, nodes, graphs; their text form and saved files. (Building a graph
node by node needs the ops' shape rules: mcutrain.ops.GraphBuilder.)"""
from .dtype import F32, I8, I32, NP_DTYPE, QParams
from .graph import Graph, Node, Value

__all__ = ["F32", "I8", "I32", "NP_DTYPE", "QParams", "Graph", "Node", "Value"]
