"""Sparse update: which parameters train (schemes, channel selection)."""
from .select import Scheme, find_layers, parse_scheme, resolve_scheme, select_channels

__all__ = ["Scheme", "find_layers", "parse_scheme", "resolve_scheme", "select_channels"]
