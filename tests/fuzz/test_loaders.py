"""Property-based fuzzing of every loader of a user's file: whatever the bytes, the loader
returns a valid result or raises our error type (McuError), never anything else.

For each loader (zoo file, saved graph, dataset .npz, params.npz, report.json, scheme JSON):
  (a) arbitrary bytes,
  (b) mutations of a valid file: byte flips, truncations, insertions, deletions; for zip
      containers also the same mutations inside one member, re-zipped with a valid CRC so
      they reach the .npy / pickle parsers,
  (c) structurally valid containers with wrong contents: .npz files with random member names,
      dtypes and shapes; JSON with random values; a valid zoo dict, report or graph text with
      one part replaced.
Deterministic (derandomized, no example database) so CI is reproducible; MCT_FUZZ_EXAMPLES
sets the examples per test for a longer run (default 40).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mcutrain.artifacts import NP_DTYPES, read_params, read_report
from mcutrain.data.datasets import load_dataset
from mcutrain.errors import McuError
from mcutrain.frontend.zoo import load_zoo
from mcutrain.ir.graph import Graph
from mcutrain.ops.verify import load_graph, verify
from mcutrain.autodiff.scheme import Scheme, parse_scheme

from . import files as F

EXAMPLES = int(os.environ.get("MCT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
N_LAYERS = 6  # the tiny model's conv/linear layers


# ---- the valid files, written once -----------------------------------------------------------

class Valid:
    """Valid files of each kind (bytes), and a scratch folder for the fuzzed ones."""

    def __init__(self, root: Path):
        self.root = root
        self.zoo = F.zoo_file(root / "zoo.pkl").read_bytes()
        self.graph = F.saved_graph(root / "graph.npz").read_bytes()
        self.data = F.npz_bytes(**F.dataset_arrays(n=6))
        out = F.compiled_output(root / "out")
        self.report = (out / "report.json").read_bytes()
        rep = json.loads(self.report)
        self.layout = [(p["name"], p["dtype"], tuple(p["shape"])) for p in rep["params"]]
        arrays = {n: np.ones(s, NP_DTYPES[d]) for n, d, s in self.layout}
        self.params = F.npz_bytes(__step__=np.asarray(7), **arrays)
        self.scheme = json.dumps({"bias_last": 2, "weights": {"4": 0.5, "5": 1}}).encode()
        self.out = root / "fuzzed-out"  # report.json goes here, beside model.h
        self.out.mkdir()
        shutil.copy2(out / "model.h", self.out / "model.h")

    def write(self, name: str, data: bytes) -> Path:
        p = self.root / name
        p.write_bytes(data)
        return p


_VALID: list = []


def valid() -> Valid:
    """Built on first use and kept for the session (hypothesis forbids function fixtures)."""
    if not _VALID:
        _VALID.append(Valid(Path(tempfile.mkdtemp(prefix="mct-fuzz-"))))
    return _VALID[0]


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    if _VALID:
        shutil.rmtree(_VALID.pop().root, ignore_errors=True)


def ours(fn, *args):
    """fn(*args), or None when it raised our error type; anything else fails the test."""
    try:
        return fn(*args)
    except McuError as e:
        assert "\n" not in str(e), f"a message of more than one line: {e}"
        return None


# ---- strategies ------------------------------------------------------------------------------

@st.composite
def mutated(draw, data: bytes):
    """`data` with 1..4 edits: byte flips, truncation, insertion, deletion, special bytes."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "set"]))
        if kind == "flip":
            b[i] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del b[i:]
        elif kind == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del b[i:i + draw(st.integers(1, 64))]
        else:
            b[i] = draw(st.sampled_from([0, 0x7F, 0x80, 0xFF, ord("0"), ord("9")]))
    return bytes(b)


@st.composite
def member_mutated(draw, zipped: bytes):
    """One member of the zip `zipped` mutated, the zip rebuilt (valid CRCs)."""
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    name = draw(st.sampled_from(sorted(members)))
    members[name] = draw(mutated(members[name]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


DTYPES = ["u1", "i1", "<i2", "<i4", "<i8", ">i4", "<u8", "<f2", "<f4", "<f8", ">f8", "?", "<c8",
          "<U3", "|S2", "<M8[D]"]


def arrays(max_dims: int = 5):
    return st.sampled_from(DTYPES).flatmap(lambda dt: hnp.arrays(
        np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=9)))


def npz_of(names, max_dims: int = 5):
    """An .npz (bytes) of random arrays under names drawn from `names` or random text."""
    keys = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=8))
    return st.dictionaries(keys, arrays(max_dims), max_size=6).map(lambda d: F.npz_bytes(**d))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda kids: (st.lists(kids, max_size=4)
                  | st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12)


def _json_bytes(v) -> bytes:
    return json.dumps(v).encode()  # NaN and Infinity as Python's json writes them


def leaves(obj, path=()):
    """Paths (key tuples) of every value inside a nested dict/list."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += leaves(v, path + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += leaves(v, path + (i,))
    return out


def replaced(obj, path, value, delete=False):
    """A copy of nested `obj` with the value at `path` replaced (or removed from its dict)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        new = dict(obj)
        if delete and not rest:
            new.pop(head, None)
        else:
            new[head] = replaced(obj[head], rest, value, delete)
        return new
    seq = list(obj)
    seq[head] = replaced(obj[head], rest, value, delete)
    return tuple(seq) if isinstance(obj, tuple) else seq


# ---- the loaders and what a valid result is -------------------------------------------------

def zoo_ok(data: bytes):
    g = ours(load_zoo, valid().write("fuzz.pkl", data))
    assert g is None or isinstance(verify(g), Graph)


def graph_ok(data: bytes):
    g = ours(load_graph, valid().write("fuzz.npz", data))
    assert g is None or isinstance(verify(g), Graph)


def dataset_ok(data: bytes):
    d = ours(load_dataset, valid().write("fuzz-data.npz", data), (8, 8, 3))
    if d is not None:
        for s in ("train", "test"):
            if f"x_{s}" in d:
                x, y = d[f"x_{s}"], d[f"y_{s}"]
                assert x.dtype == np.uint8 and x.shape[1:] == (8, 8, 3) and len(x) >= 1
                assert y.dtype == np.int64 and y.shape == (len(x),) and y.min() >= 0


def params_ok(data: bytes):
    v = valid()
    r = ours(read_params, v.write("params.npz", data), v.layout)
    if r is not None:
        params, step = r
        assert list(params) == [n for n, _, _ in v.layout] and 0 <= step < 2**32
        for n, d, s in v.layout:
            assert params[n].shape == s and params[n].dtype == NP_DTYPES[d]


def report_ok(data: bytes):
    v = valid()
    (v.out / "report.json").write_bytes(data)
    rep = ours(read_report, v.out)
    if rep is not None:  # what CompiledModel derives from it works
        shp = rep["input"]["shape"]
        assert len(shp) in (2, 4) and int(rep["classes"]) >= 1
        [(p["name"], p["dtype"], tuple(p["shape"])) for p in rep["params"]]


def scheme_ok(data: bytes):
    s = ours(parse_scheme, str(valid().write("fuzz-scheme.json", data)), N_LAYERS)
    assert s is None or _valid_scheme(s)


def _valid_scheme(s: Scheme) -> bool:
    return (isinstance(s.bias_last, int) and 0 <= s.bias_last <= N_LAYERS
            and all(isinstance(k, int) and 0 <= k < N_LAYERS and 0 < r <= 1
                    for k, r in s.weights.items()))


LOADERS = {"zoo": (zoo_ok, "zoo"), "graph": (graph_ok, "graph"), "dataset": (dataset_ok, "data"),
           "params": (params_ok, "params"), "report": (report_ok, "report"),
           "scheme": (scheme_ok, "scheme")}


# ---- (a) arbitrary bytes, (b) mutations of a valid file ----------------------------------------

@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(data=st.data())
def test_any_bytes(kind, data):
    check, _ = LOADERS[kind]
    prefix = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"{", b"["])
    check(data.draw(prefix) + data.draw(st.binary(max_size=600)))


@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(data=st.data())
def test_mutated_file(kind, data):
    check, attr = LOADERS[kind]
    good = getattr(valid(), attr)
    check(data.draw(mutated(good)))


@pytest.mark.parametrize("kind", ["zoo", "graph", "dataset", "params"])
@FUZZ
@given(data=st.data())
def test_mutated_member(kind, data):
    check, attr = LOADERS[kind]
    check(data.draw(member_mutated(getattr(valid(), attr))))


# ---- (c) valid containers, wrong contents ------------------------------------------------------

@FUZZ
@given(npz=npz_of(["x_train", "y_train", "x_test", "y_test"]))
def test_dataset_random_arrays(npz):
    dataset_ok(npz)


@FUZZ
@given(data=st.data())
def test_params_random_arrays(data):
    names = [n for n, _, _ in valid().layout] + ["__step__"]
    d = {}
    for n, dt, shape in valid().layout + [("__step__", "i32", ())]:
        if data.draw(st.booleans()):  # right shape, any dtype; or anything at all
            d[n] = data.draw(hnp.arrays(np.dtype(data.draw(st.sampled_from(DTYPES))), shape))
        elif data.draw(st.booleans()):
            d[n] = data.draw(arrays())
    if data.draw(st.booleans()):
        d[data.draw(st.sampled_from(names + ["extra"]))] = data.draw(arrays())
    params_ok(F.npz_bytes(**d))


@FUZZ
@given(npz=npz_of(["__format__", "__graph__", "__meta__", "__consts__", "c0", "c1", "c2"]))
def test_graph_random_arrays(npz):
    graph_ok(npz)


NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


@FUZZ
@given(data=st.data())
def test_graph_text_edits(data):
    """The graph's text form edited at the token level (numbers, lines, names), the file
    otherwise valid: parse_graph, verify and the attribute checks must catch it."""
    with zipfile.ZipFile(io.BytesIO(valid().graph)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    text = str(np.load(io.BytesIO(members["__graph__.npy"])))
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["number", "drop", "dup", "swap", "cut", "word"]))
        if kind == "number" and NUMBER.search(lines[i]):
            spans = [m.span() for m in NUMBER.finditer(lines[i])]
            a, b = data.draw(st.sampled_from(spans))
            new = data.draw(st.sampled_from(["0", "-1", "1", "3", "127", "-129", "2147483648",
                                             "1e308", "nan", "0.5", "99999"]))
            lines[i] = lines[i][:a] + new + lines[i][b:]
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "cut":
            lines[i] = lines[i][:data.draw(st.integers(0, len(lines[i])))]
        else:
            w = data.draw(st.sampled_from(["conv2d", "add", "reshape", "i8", "f32", "i32", "%x",
                                           "param", "return", "(", "]"]))
            lines[i] = re.sub(r"\w+", w, lines[i], count=1)
    members["__graph__.npy"] = F.npy(np.array("\n".join(lines)))
    graph_ok(_zip(members))


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


ZOO_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6),
    st.lists(st.integers(-3, 9), max_size=3), st.tuples(st.integers(-1, 9), st.integers(-1, 9)),
    arrays(max_dims=4).filter(lambda a: a.dtype.kind != "M"))


@FUZZ
@given(data=st.data())
def test_zoo_dict_edits(data):
    """A valid zoo model with 1..2 values replaced or keys deleted, written as a zoo file."""
    from ..frontend.test_zoo import tiny_model, write_zoo

    m = tiny_model()
    for _ in range(data.draw(st.integers(1, 2))):
        path = data.draw(st.sampled_from(leaves(m)))
        m = replaced(m, path, data.draw(ZOO_VALUES), delete=data.draw(st.booleans()))
    zoo_ok(write_zoo(valid().root / "edited.pkl", m).read_bytes())


@FUZZ
@given(data=st.data())
def test_report_edits(data):
    rep = json.loads(valid().report)
    for _ in range(data.draw(st.integers(1, 2))):
        path = data.draw(st.sampled_from([p for p in leaves(rep) if p[0] != "plan"]))
        rep = replaced(rep, path, data.draw(JSON), delete=data.draw(st.booleans()))
    report_ok(_json_bytes(rep))


@FUZZ
@given(v=JSON)
def test_report_random_json(v):
    report_ok(_json_bytes(v))


SCHEME_DICTS = st.fixed_dictionaries({}, optional={
    "bias_last": JSON | st.integers(-3, 9),
    "weights": st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-2, 9).map(str)),
                               JSON | st.floats(-1, 2), max_size=4) | JSON,
    "extra": JSON})


@FUZZ
@given(v=JSON | SCHEME_DICTS)
def test_scheme_random_json(v):
    scheme_ok(_json_bytes(v))
    s = ours(parse_scheme, v if isinstance(v, dict) else {"weights": v}, N_LAYERS)
    assert s is None or _valid_scheme(s)


@FUZZ
@given(text=st.text(max_size=24))
def test_scheme_any_string(text):
    """Any typed --update value: a named scheme, a path, or our error (never a crash)."""
    s = ours(parse_scheme, text, N_LAYERS)
    assert s is None or _valid_scheme(s)
