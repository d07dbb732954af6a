"""The divergence guard (runtime guard.c) through ctypes: ln(classes) as the prior level of a
classifier's loss, and no prior (classes 0) for the MSE of a reconstruction, whose level is
whatever the first window says."""
from __future__ import annotations

from mcutrain.targets.host import Guard, runtime_library


def _run(classes, losses):
    g = Guard(runtime_library(), classes)
    for k, loss in enumerate(losses):
        why = g.step(loss)
        if why:
            return k, why
    return None


def test_classifier_prior_catches_a_large_loss_at_once():
    assert _run(10, [2.3] * 40) is None
    assert _run(10, [900.0]) == (0, "exploded")


def test_no_prior_takes_the_first_window_as_the_level():
    assert _run(0, [900.0] * 100) is None  # an MSE of a few hundred is no explosion
    got = _run(0, [900.0] * 32 + [9e6])
    assert got == (32, "exploded")
    assert _run(0, [float("nan")]) == (0, "non-finite")
