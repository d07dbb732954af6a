"""The training graph: which parameters train (schemes, channel selection), a new head,
backward nodes appended from each op's gradient rule, the SGD updates."""
from .grad import append_backward
from .scheme import Scheme, find_layers, parse_scheme, resolve_scheme, select_channels
from .training import TrainConfig, make_training_graph

__all__ = ["append_backward", "Scheme", "find_layers", "parse_scheme", "resolve_scheme",
           "select_channels", "TrainConfig", "make_training_graph"]
