"""`mcutrain export`: a compile output's trained model in a format other tools take."""
from .params import export_params, read_slot_image

__all__ = ["export_params", "read_slot_image"]
