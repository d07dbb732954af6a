"""Compile-time autodiff: backward nodes appended to the IR from each op's gradient rule."""
from .grad import append_backward
from .training import TrainConfig, make_training_graph

__all__ = ["append_backward", "TrainConfig", "make_training_graph"]
