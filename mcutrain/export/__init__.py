"""`mcutrain export`: a compile output's trained model in a format other tools take:
--format params (export/params.py, a flash slot image) or tflite (export/tflite.py)."""
from .params import export_params, read_slot_image
from .tflite import export_tflite, export_tflite_file

__all__ = ["export_params", "read_slot_image", "export_tflite", "export_tflite_file"]
