"""mcutrain's own error types: what a user can cause gets one of these, with one line naming
the file or option and what is wrong. The CLI prints it as `mcutrain: error: ...` without a
traceback (`--debug` shows one) and exits 2 for a usage error, 1 for any other failure.

Any other exception reaching the CLI is a bug of ours, never a user's mistake.
"""
from __future__ import annotations


class McuError(Exception):
    """A failure a user can cause or meet: bad file contents, over budget, a failed build,
    a diverged training run. Exit status 1. `details`: more lines (a breakdown, a compiler's
    output) that the CLI prints under the one-line message with --debug."""

    exit_status = 1

    def __init__(self, *args, details=()):
        super().__init__(*args)
        self.details = list(details)


class UsageError(McuError, ValueError):
    """What the user typed is wrong: an option's value out of range or unreadable, a path
    that does not exist, an output path we refuse to write. Exit status 2."""

    exit_status = 2


class InputError(McuError, ValueError):
    """A file the user gave (model, dataset, scheme, params, report) cannot be used."""


class MissingDependency(McuError, ImportError):
    """An optional extra is not installed (the message names the pip command)."""


class DivergedError(McuError, FloatingPointError):
    """Training stopped: the loss became non-finite or exploded (the last good parameters
    were kept)."""


def check_range(name: str, value, lo=None, hi=None, lo_open=False, hi_open=False,
                integer=False):
    """`value` (an option named `name`, e.g. '--lr') must be a finite number in the range;
    returns it, else raises UsageError naming the option."""
    import math

    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and not float(value).is_integer()):
        raise UsageError(f"{name} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise UsageError(f"{name} must be finite, got {value}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise UsageError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise UsageError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {value}")
    return int(value) if integer else value
