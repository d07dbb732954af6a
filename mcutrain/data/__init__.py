"""Datasets: arrays and .npz files, the built-in default task."""
from .arrays import images_to_int8, load_npz

__all__ = ["images_to_int8", "load_npz"]
