"""`mcutrain train` and `mcutrain eval`: a compile output trained on the host (the generated C
through ctypes) or inside QEMU (the Cortex-M build), with the divergence guard."""
from .device import train_device
from .host import eval_model, evaluate, open_model, save_params, train_model
from .predict import predict_model

__all__ = ["train_device", "eval_model", "evaluate", "open_model", "predict_model",
           "save_params", "train_model"]
