"""Memory sizes as users write them: 256KB, 1MB, 4096 (KB and MB are binary, as on MCUs)."""
from __future__ import annotations

import re

from .errors import UsageError


def parse_bytes(text) -> int | None:
    """'256KB' -> 262144, '1MB' -> 1048576, '1000' -> 1000; None stays None."""
    if text is None:
        return None
    if isinstance(text, int) or (hasattr(text, "dtype") and text.dtype.kind in "iu"):
        return int(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmM]?)(i?[bB])?\s*", str(text))
    if not m:
        raise UsageError(f"cannot read a memory size from {text!r} (e.g. 256KB, 1MB)")
    mult = {"": 1, "k": 1024, "m": 1024 * 1024}[m[2].lower()]
    return int(float(m[1]) * mult)
