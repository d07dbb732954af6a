"""What host and device training share: the label check and the divergence message."""
from __future__ import annotations

from ..data.arrays import DataError


def check_labels(y, classes: int, what: str, data=None):
    """Every label is a class of the model (`data`: the dataset, named in the message)."""
    if len(y) and (y.max() >= classes):
        where = f"dataset {data}: " if data is not None and not isinstance(data, dict) else ""
        raise DataError(f"{where}{what} has label {int(y.max())} but the model has {classes} "
                        "classes (compile with --classes N for a new head)")


def diverged_message(d: dict, lr: float, kept: str) -> str:
    what = f"became {d['loss']}" if d["reason"] == "non-finite" else f"exploded to {d['loss']:.4g}"
    return (f"training diverged at step {d['step']} (epoch {d['epoch']}): the loss {what} with "
            f"lr {lr:g}; stopped and kept the parameters of {kept} (lower --lr)")
