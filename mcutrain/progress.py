"""Progress bars only where someone watches: on a terminal, with tqdm installed.

Redirected to a file or a pipe (CI logs, `> log.txt`), a bar's carriage returns make the
output unreadable, so there is none; without tqdm (a core install) there is none either.
Either way the caller gets an object with the same methods, and the per-epoch lines the
commands print stay the record.
"""
from __future__ import annotations

import importlib.util
import sys


class _NoBar:
    n = 0

    def __init__(self, iterable=None, total=None, **_):
        self._it = iterable

    def __iter__(self):
        return iter(self._it if self._it is not None else ())

    def update(self, k=1):
        self.n += k

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass


def wanted(enabled: bool = True, stream=None) -> bool:
    """A bar is shown: asked for, the stream is a terminal, and tqdm is installed."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or not getattr(stream, "isatty", lambda: False)():
        return False
    return importlib.util.find_spec("tqdm") is not None


def bar(iterable=None, enabled: bool = True, **kw):
    """tqdm(iterable, **kw) on a terminal, else a silent stand-in with the same methods."""
    if not wanted(enabled, kw.get("file")):
        return _NoBar(iterable, **kw)
    from tqdm import tqdm

    return tqdm(iterable, **kw)
