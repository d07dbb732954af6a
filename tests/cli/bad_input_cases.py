"""The cases of test_bad_inputs.py: (id, argv, exit status, names, setup[, needs]).

argv runs in a folder holding model.npz (a tiny saved int8 graph, 8x8x3 input), zoo.pkl (a
tiny zoo model), data.npz (a 3-class dataset of 8x8x3 uint8 images) and, when argv names
@out, out/ (that graph compiled with a fresh 3-class head). `names`: the error line must
contain one of them. `setup(work)` writes the case's bad file into the folder.
"""
from __future__ import annotations

import json

import numpy as np

from ..fuzz import files as F
from ..fuzz.files import dataset_arrays

NAN, INF = float("nan"), float("inf")


# ---- setups ----------------------------------------------------------------------------------

def raw(name, data):
    def setup(work):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return setup


def js(name, obj):
    return raw(name, json.dumps(obj))


def npz(name, **arrays):
    return lambda work: F.write_npz(work / name, **arrays)


def data(name="bad.npz", test=True, **changes):
    """data.npz's arrays with `changes` (None drops an array)."""
    def setup(work):
        d = dataset_arrays(test=test)
        d.update(changes)
        F.write_npz(work / name, **{k: v for k, v in d.items() if v is not None})
    return setup


def cut(src, name, frac):
    return lambda work: F.cut(work / src, work / name, frac)


def flip(src, name, frac):
    return lambda work: F.flip(work / src, work / name, frac)


def member(src, name, m, payload):
    return lambda work: F.replace_member(work / src, work / name, m, payload)


def claiming(name, key, shape, dtype="|u1"):
    return lambda work: F.npz_claiming(work / name, key, shape, dtype)


def folder(*files):
    """An image folder: files given as relative paths -> bytes (b'' for a subfolder)."""
    def setup(work):
        for rel, content in files:
            p = work / "imgs" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                p.mkdir(exist_ok=True)
            else:
                p.write_bytes(content)
    return setup


def report(edit):
    """out/report.json changed by edit(report) (which may return a replacement)."""
    def setup(work):
        path = work / "out" / "report.json"
        rep = json.loads(path.read_text())
        new = edit(rep)
        path.write_text(json.dumps(rep if new is None else new))
    return setup


def good_params(work) -> dict:
    rep = json.loads((work / "out" / "report.json").read_text())
    d = {p["name"]: np.zeros(p["shape"], {"i8": np.int8, "i32": np.int32, "f32": np.float32}[
        p["dtype"]]) for p in rep["params"]}
    d["__step__"] = np.asarray(5)
    return d


def params(edit):
    """out/params.npz: the right arrays, then edit(dict) (which may write bytes itself)."""
    def setup(work):
        d = good_params(work)
        res = edit(d)
        if isinstance(res, bytes):
            (work / "out" / "params.npz").write_bytes(res)
        else:
            F.write_npz(work / "out" / "params.npz", **d)
    return setup


def both(*setups):
    def setup(work):
        for s in setups:
            s(work)
    return setup


def _set(d, k, v):
    d[k] = v


def _del(d, k):
    del d[k]


def _torch_file(body):
    return raw("m.py", "import torch\nimport torch.nn as nn\n" + body)


NET = ("class Net(nn.Module):\n    input_shape = (3, 8, 8)\n    def __init__(self):\n"
       "        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3, padding=1)\n"
       "        self.f = nn.Linear(4, 3)\n    def forward(self, x):\n"
       "        return self.f(torch.relu(self.c(x)).mean((2, 3)))\n")

# ---- the cases -------------------------------------------------------------------------------

C = "compile model.npz -o new"
T = "train @out --quiet --data"
E = "eval @out --data"

DEMO = [
    ("demo-epochs-0", "demo --epochs 0", 2, "--epochs"),
    ("demo-epochs-neg", "demo --epochs -1", 2, "--epochs"),
    ("demo-epochs-text", "demo --epochs many", 2, "--epochs"),
    ("demo-lr-nan", "demo --lr nan", 2, "--lr"),
    ("demo-lr-inf", "demo --lr inf", 2, "--lr"),
    ("demo-lr-neg", "demo --lr -0.01", 2, "--lr"),
    ("demo-lr-zero", "demo --lr 0", 2, "--lr"),
    ("demo-seed-neg", "demo --seed -1", 2, "--seed"),
    ("demo-storage", "demo --storage int4", 2, "--storage"),
    ("demo-unknown-option", "demo --fast", 2, "--fast"),
    ("demo-scheme-unknown", "demo --scheme fulll --epochs 1", 2, "fulll"),
    ("demo-scheme-missing-file", "demo --scheme nope.json --epochs 1", 2, "nope.json"),
    ("demo-scheme-bad-json", "demo --scheme s.json --epochs 1", 1, "s.json",
     raw("s.json", "{bias_last: 1")),
    ("demo-json-under-a-file", "demo --epochs 1 --quiet --json afile/r.json", 2,
     ("--json", "afile"), raw("afile", "x")),
]

COMPILE_OPTIONS = [
    ("compile-lr-nan", C + " --lr nan", 2, "--lr"),
    ("compile-lr-inf", C + " --lr inf", 2, "--lr"),
    ("compile-lr-neg", C + " --lr -0.01", 2, "--lr"),
    ("compile-lr-text", C + " --lr fast", 2, "--lr"),
    ("compile-momentum-5", C + " --momentum 5", 2, "--momentum"),
    ("compile-momentum-1", C + " --momentum 1", 2, "--momentum"),
    ("compile-momentum-neg", C + " --momentum -0.1", 2, "--momentum"),
    ("compile-momentum-nan", C + " --momentum nan", 2, "--momentum"),
    ("compile-wd-neg", C + " --weight-decay -1", 2, "--weight-decay"),
    ("compile-wd-nan", C + " --weight-decay nan", 2, "--weight-decay"),
    ("compile-classes-0", C + " --classes 0", 2, "--classes"),
    ("compile-classes-neg", C + " --classes -3", 2, "--classes"),
    ("compile-classes-float", C + " --classes 2.5", 2, "--classes"),
    ("compile-classes-huge", C + " --classes 100000000", 2, "--classes"),
    ("compile-seed-neg", C + " --seed -1", 2, "--seed"),
    ("compile-seed-float", C + " --seed 1.5", 2, "--seed"),
    ("compile-ram-text", C + " --ram lots", 2, "--ram"),
    ("compile-ram-zero", C + " --ram 0", 2, "--ram"),
    ("compile-ram-neg", C + " --ram -5KB", 2, "--ram"),
    ("compile-ram-unit", C + " --ram 10XB", 2, "--ram"),
    ("compile-flash-text", C + " --flash big", 2, "--flash"),
    ("compile-storage", C + " --storage int4", 2, "--storage"),
    ("compile-input-shape-text", C + " --input-shape abc", 2, "--input-shape"),
    ("compile-input-shape-zero", C + " --input-shape 3,0,8", 2, "--input-shape"),
    ("compile-input-shape-neg", C + " --input-shape 3,-8,8", 2, "--input-shape"),
    ("compile-seeds-0", C + " --seeds 0", 2, "--seeds"),
    ("compile-folds-0", C + " --folds 0", 2, "--folds"),
    ("compile-promote-0", C + " --promote 0", 2, "--promote"),
    ("compile-promote-big", C + " --promote 1.5", 2, "--promote"),
    ("compile-metric", C + " --metric speed", 2, "--metric"),
    ("compile-no-out", "compile model.npz", 2, ("-o", "--out")),
    ("compile-out-is-file", "compile model.npz -o data.npz", 2, ("-o", "data.npz")),
    ("compile-out-foreign-folder", "compile model.npz -o mine", 2, ("-o", "mine"),
     raw("mine/notes.txt", "my notes")),
    ("compile-out-cwd", "compile model.npz -o .", 2, "-o"),
    ("compile-out-is-input", "compile model.npz -o model.npz", 2, ("-o", "model.npz")),
    ("compile-auto-no-data", C + " --update auto --ram 64KB", 2, ("--data", "auto")),
    ("compile-over-budget", C + " --ram 1KB", 1, ("RAM", "budget")),
]

S = C + " --update s.json"
COMPILE_SCHEMES = [
    ("scheme-unknown-name", C + " --update fulll", 2, "fulll"),
    ("scheme-bias-only-junk", C + " --update bias-only:x", 2, "bias-only:x"),
    ("scheme-last-neg", C + " --update last:-1", 2, "last:-1"),
    ("scheme-last-unicode-digit", C + " --update last:²", 2, "last:²"),
    ("scheme-missing-file", C + " --update nope.json", 2, "nope.json"),
    ("scheme-folder", C + " --update sdir/", 2, "sdir", raw("sdir/x", "")),
    ("scheme-inline-json", [*C.split(), "--update", '{"bias_last": 1}'], 2, "bias_last"),
    ("scheme-not-json", S, 1, "s.json", raw("s.json", "bias_last = 2")),
    ("scheme-empty-file", S, 1, "s.json", raw("s.json", "")),
    ("scheme-binary", S, 1, "s.json", raw("s.json", bytes(range(256)))),
    ("scheme-list", S, 1, "s.json", js("s.json", [1, 2])),
    ("scheme-number", S, 1, "s.json", js("s.json", 3)),
    ("scheme-weights-list", S, 1, "s.json", js("s.json", {"weights": [0.5]})),
    ("scheme-weights-null", S, 1, "s.json", js("s.json", {"weights": None})),
    ("scheme-key-text", S, 1, "s.json", js("s.json", {"weights": {"conv": 1}})),
    ("scheme-key-float", S, 1, "s.json", js("s.json", {"weights": {"1.5": 1}})),
    ("scheme-key-neg", S, 1, "s.json", js("s.json", {"weights": {"-1": 1}})),
    ("scheme-key-twice", S, 1, "s.json", raw("s.json", '{"weights": {"1": 1, "01": 0.5}}')),
    ("scheme-ratio-neg", S, 1, "s.json", js("s.json", {"weights": {"1": -0.5}})),
    ("scheme-ratio-nan", S, 1, "s.json", raw("s.json", '{"weights": {"1": NaN}}')),
    ("scheme-ratio-inf", S, 1, "s.json", raw("s.json", '{"weights": {"1": 1e999}}')),
    ("scheme-ratio-big", S, 1, "s.json", js("s.json", {"weights": {"1": 1.5}})),
    ("scheme-ratio-text", S, 1, "s.json", js("s.json", {"weights": {"1": "0.5"}})),
    ("scheme-ratio-bool", S, 1, "s.json", js("s.json", {"weights": {"1": True}})),
    ("scheme-layer-range", S, 1, "s.json", js("s.json", {"weights": {"99": 1}})),
    ("scheme-bias-last-frac", S, 1, "s.json", js("s.json", {"bias_last": 1.5})),
    ("scheme-bias-last-neg", S, 1, "s.json", js("s.json", {"bias_last": -1})),
    ("scheme-bias-last-bool", S, 1, "s.json", js("s.json", {"bias_last": True})),
    ("scheme-bias-last-text", S, 1, "s.json", js("s.json", {"bias_last": "2"})),
    ("scheme-bias-last-range", S, 1, "s.json", js("s.json", {"bias_last": 99})),
    ("scheme-unknown-key", S, 1, "s.json", js("s.json", {"bias": 1})),
    ("scheme-deep", S, 1, "s.json", raw("s.json", "[" * 100000 + "]" * 100000)),
]

G = "compile g.npz -o new"
COMPILE_MODELS = [
    ("model-missing-npz", "compile nope.npz -o new", 2, "nope.npz"),
    ("model-missing-pkl", "compile nope.pkl -o new", 2, "nope.pkl"),
    ("model-missing-tflite", "compile nope.tflite -o new", 2, "nope.tflite"),
    ("tflite-garbage", "compile m.tflite -o new", 1, "m.tflite", lambda w: F.garbage(w / "m.tflite")),
    ("tflite-empty", "compile m.tflite -o new", 1, "m.tflite", raw("m.tflite", b"")),
    ("tflite-folder", "compile d.tflite -o new", 2, "d.tflite", raw("d.tflite/x", "")),
    ("model-folder", "compile d.npz -o new", 2, "d.npz", raw("d.npz/x", "")),
    ("model-unknown-kind", "compile model.onnx -o new", 2, "model.onnx", raw("model.onnx", "x")),
    ("graph-garbage", G, 1, "g.npz", lambda w: F.garbage(w / "g.npz")),
    ("graph-empty", G, 1, "g.npz", raw("g.npz", b"")),
    ("graph-cut-10", G, 1, "g.npz", cut("model.npz", "g.npz", 0.1)),
    ("graph-cut-50", G, 1, "g.npz", cut("model.npz", "g.npz", 0.5)),
    ("graph-cut-95", G, 1, "g.npz", cut("model.npz", "g.npz", 0.95)),
    ("graph-cut-last-byte", G, 1, "g.npz", cut("model.npz", "g.npz", 0.9999)),
    ("graph-flip-30", G, 1, "g.npz", flip("model.npz", "g.npz", 0.3)),
    ("graph-flip-60", G, 1, "g.npz", flip("model.npz", "g.npz", 0.6)),
    ("graph-is-dataset", "compile data.npz -o new", 1, "data.npz"),
    ("graph-wrong-format", G, 1, "g.npz",
     member("model.npz", "g.npz", "__format__.npy", F.npy(np.array("other-9")))),
    ("graph-no-text", G, 1, "g.npz", member("model.npz", "g.npz", "__graph__.npy", None)),
    ("graph-bad-text", G, 1, "g.npz",
     member("model.npz", "g.npz", "__graph__.npy", F.npy(np.array("input %x:i8[1,3 = (")))),
    ("graph-no-const", G, 1, "g.npz", member("model.npz", "g.npz", "c0.npy", None)),
    ("graph-const-dtype", G, 1, "g.npz",
     member("model.npz", "g.npz", "c0.npy", F.npy(np.zeros(3, np.float64)))),
    ("graph-pickled-member", G, 1, "g.npz",
     member("model.npz", "g.npz", "c0.npy", F.npy(np.array([{"a": 1}], dtype=object)))),
    ("graph-meta-not-object", G, 1, "g.npz",
     member("model.npz", "g.npz", "__meta__.npy", F.npy(np.array("[1, 2]")))),
    ("graph-huge-claim", G, 1, "g.npz", claiming("g.npz", "__graph__", (10**12,), "<U1")),
    ("graph-train-graph", "compile @out/train_graph.npz -o new", 1, "train_graph.npz"),
    ("graph-float", "compile float.npz -o new", 1, "float.npz",
     lambda w: F.float_graph(w / "float.npz")),
    ("zoo-garbage", "compile z.pkl -o new", 1, "z.pkl", lambda w: F.garbage(w / "z.pkl")),
    ("zoo-plain-pickle", "compile z.pkl -o new", 1, "z.pkl", raw("z.pkl", b"\x80\x02]q\x00.")),
    ("zoo-cut", "compile z.pkl -o new", 1, "z.pkl", cut("zoo.pkl", "z.pkl", 0.6)),
    ("zoo-flip", "compile z.pkl -o new", 1, "z.pkl", flip("zoo.pkl", "z.pkl", 0.5)),
    ("zoo-no-member", "compile z.pkl -o new", 1, "z.pkl",
     member("zoo.pkl", "z.pkl", "archive/data.pkl", None)),
    ("zoo-evil-pickle", "compile z.pkl -o new", 1, "z.pkl",
     member("zoo.pkl", "z.pkl", "archive/data.pkl", b"cos\nsystem\n(S'true'\ntR.")),
    ("zoo-list-pickle", "compile z.pkl -o new", 1, "z.pkl",
     member("zoo.pkl", "z.pkl", "archive/data.pkl", b"\x80\x02]q\x00.")),
    ("show-zoo-cut", "show z.pkl", 1, "z.pkl", cut("zoo.pkl", "z.pkl", 0.3)),
]

P = "compile m.py:make -o new --data data.npz"
COMPILE_TORCH = [
    ("torch-missing-file", "compile nope.py:make -o new --data data.npz", 2, "nope.py"),
    ("torch-syntax-error", P, 1, "m.py", raw("m.py", "def make(:\n"), "torch"),
    ("torch-import-error", P, 1, "m.py", raw("m.py", "import no_such_mod\n"), "torch"),
    ("torch-sys-exit", P, 1, "m.py", raw("m.py", "import sys\nsys.exit(0)\n"), "torch"),
    ("torch-no-factory", P, 1, ("m.py", "make"), _torch_file("def other(): pass\n"), "torch"),
    ("torch-factory-raises", P, 1, ("m.py", "make"),
     _torch_file("def make():\n    raise RuntimeError('boom')\n"), "torch"),
    ("torch-not-a-module", P, 1, ("m.py", "make"), _torch_file("def make():\n    return 42\n"),
     "torch"),
    ("torch-no-data", "compile m.py:make -o new", 2, ("--data", "m.py"),
     _torch_file(NET + "def make():\n    return Net()\n"), "torch"),
    ("torch-no-shape", P, 2, ("--input-shape", "m.py"),
     _torch_file(NET.replace("input_shape = (3, 8, 8)", "pass")
                 + "def make():\n    return Net()\n"),
     "torch"),
    ("torch-shape-mismatch", P + " --input-shape 5,8,8", 1, "m.py",
     _torch_file(NET + "def make():\n    return Net()\n"), "torch"),
    ("torch-bad-shape-attr", P, 1, "m.py",
     _torch_file(NET.replace("(3, 8, 8)", "'abc'") + "def make():\n    return Net()\n"), "torch"),
    ("torch-unsupported-op", P, 1, "m.py", _torch_file(
        NET.replace("torch.relu(self.c(x))", "torch.sigmoid(self.c(x))")
        + "def make():\n    return Net()\n"), "torch"),
    ("torch-bad-data", "compile m.py:make -o new --data bad.npz", 1, "bad.npz",
     both(_torch_file(NET + "def make():\n    return Net()\n"), cut("data.npz", "bad.npz", 0.5)),
     "torch"),
]

D = T + " bad.npz"
TRAIN_DATA = [
    ("data-missing", T + " nope.npz", 2, "nope.npz"),
    ("data-no-option", "train @out --quiet", 2, "--data"),
    ("data-wrong-kind", T + " zoo.pkl", 2, "zoo.pkl"),
    ("data-garbage", D, 1, "bad.npz", lambda w: F.garbage(w / "bad.npz")),
    ("data-empty-file", D, 1, "bad.npz", raw("bad.npz", b"")),
    ("data-cut-20", D, 1, "bad.npz", cut("data.npz", "bad.npz", 0.2)),
    ("data-cut-70", D, 1, "bad.npz", cut("data.npz", "bad.npz", 0.7)),
    ("data-cut-99", D, 1, "bad.npz", cut("data.npz", "bad.npz", 0.99)),
    ("data-flip-header", D, 1, "bad.npz", flip("data.npz", "bad.npz", 0.02)),
    ("data-flip-body", D, 1, "bad.npz", flip("data.npz", "bad.npz", 0.5)),
    ("data-no-x-train", D, 1, "bad.npz", data(x_train=None)),
    ("data-no-y-train", D, 1, "bad.npz", data(y_train=None)),
    ("data-test-without-labels", D, 1, "bad.npz", data(y_test=None)),
    ("data-zero-images", D, 1, "bad.npz",
     data(x_train=np.zeros((0, 8, 8, 3), np.uint8), y_train=np.zeros(0, np.int64))),
    ("data-zero-test-images", D, 1, "bad.npz",
     data(x_test=np.zeros((0, 8, 8, 3), np.uint8), y_test=np.zeros(0, np.int64))),
    ("data-2d-images", D, 1, "bad.npz", data(x_train=np.zeros((12, 64), np.uint8))),
    ("data-5d-images", D, 1, "bad.npz", data(x_train=np.zeros((12, 8, 8, 3, 1), np.uint8))),
    ("data-zero-height", D, 1, "bad.npz", data(x_train=np.zeros((12, 0, 8, 3), np.uint8))),
    # int8 / float model inputs are data too (N x the model's 8x8x3 input), but not these
    ("data-float-mixed-kinds", D, 1, "bad.npz", data(x_train=np.zeros((12, 8, 8, 3), np.float32))),
    ("data-float-nan", D, 1, "bad.npz",
     data(test=False, x_train=np.full((12, 8, 8, 3), NAN, np.float32))),
    ("data-float-inf", D, 1, "bad.npz",
     data(test=False, x_train=np.full((12, 8, 8, 3), INF, np.float32))),
    ("data-float-wrong-shape", D, 1, "bad.npz",
     data(test=False, x_train=np.zeros((12, 8, 8), np.float32))),
    ("data-float-1d", D, 1, "bad.npz", data(test=False, x_train=np.zeros(12, np.float32))),
    ("data-int8-channels-first", D, 1, "bad.npz", data(test=False, x_train=np.zeros((12, 3, 8, 8), np.int8))),
    ("data-int8-flat", D, 1, "bad.npz", data(test=False, x_train=np.zeros((12, 192), np.int8))),
    ("data-bool-images", D, 1, "bad.npz", data(x_train=np.zeros((12, 8, 8, 3), bool))),
    ("data-five-channels", D, 1, "bad.npz", data(x_train=np.zeros((12, 8, 8, 5), np.uint8))),
    ("data-string-labels", D, 1, "bad.npz", data(y_train=np.array(["cat"] * 12))),
    ("data-object-labels", D, 1, "bad.npz", data(y_train=np.array([0, "a"] * 6, dtype=object))),
    ("data-bool-labels", D, 1, "bad.npz", data(y_train=np.ones(12, bool))),
    ("data-complex-labels", D, 1, "bad.npz", data(y_train=np.ones(12, complex))),
    ("data-fraction-labels", D, 1, "bad.npz", data(y_train=np.full(12, 0.5))),
    ("data-nan-labels", D, 1, "bad.npz", data(y_train=np.full(12, NAN))),
    ("data-negative-labels", D, 1, "bad.npz", data(y_train=-np.ones(12, np.int64))),
    ("data-label-count", D, 1, "bad.npz", data(y_train=np.zeros(7, np.int64))),
    ("data-one-hot-labels", D, 1, "bad.npz", data(y_train=np.eye(3)[np.arange(12) % 3])),
    ("data-label-beyond-classes", D, 1, "bad.npz", data(y_train=np.full(12, 7))),
    ("data-huge-label", D, 1, "bad.npz", data(y_train=np.full(12, 10**12))),
    ("data-huge-claim", D, 1, "bad.npz", claiming("bad.npz", "x_train", (10**9, 64, 64, 3))),
    ("data-is-graph", T + " model.npz", 1, "model.npz"),
    ("data-folder-no-classes", T + " imgs", 1, "imgs", folder(("notes.txt", b"x"))),
    ("data-folder-no-images", T + " imgs", 1, "imgs", folder(("a", None), ("b", None))),
    ("data-folder-corrupt-image", T + " imgs", 1, "bad.png",
     folder(("a/bad.png", b"\x89PNG\r\n\x1a\n garbage")), "pil"),
]

TRAIN_OPTIONS = [
    ("train-epochs-0", T + " data.npz --epochs 0", 2, "--epochs"),
    ("train-epochs-neg", T + " data.npz --epochs -1", 2, "--epochs"),
    ("train-lr-nan", T + " data.npz --lr nan", 2, "--lr"),
    ("train-lr-inf", T + " data.npz --lr inf", 2, "--lr"),
    ("train-lr-neg", T + " data.npz --lr -0.01", 2, "--lr"),
    ("train-seed-neg", T + " data.npz --seed -2", 2, "--seed"),
    ("train-target", T + " data.npz --target qemu-m9", 2, "--target"),
    ("train-out-missing", "train nope --data data.npz", 2, "nope"),
    ("train-out-is-file", "train data.npz --data data.npz", 2, "data.npz"),
    ("train-out-not-ours", "train mine --data data.npz", 2, "mine", raw("mine/a.txt", "x")),
    ("qemu-epochs-0", T + " data.npz --target qemu-m7 --epochs 0", 2, "--epochs"),
    ("qemu-lr-nan", T + " data.npz --target qemu-m7 --lr nan", 2, "--lr"),
    ("qemu-bad-data", T + " bad.npz --target qemu-m7", 1, "bad.npz",
     cut("data.npz", "bad.npz", 0.5), "qemu"),
    ("qemu-label-beyond", T + " bad.npz --target qemu-m7", 1, "bad.npz",
     data(y_train=np.full(12, 9)), "qemu"),
]


def _no_classes(r):
    del r["classes"]


REPORTS = [
    ("report-garbage", T + " data.npz", 1, "report.json", raw("out/report.json", b"\x00\xff")),
    ("report-empty", E + " data.npz", 1, "report.json", raw("out/report.json", "")),
    ("report-list", E + " data.npz", 1, "report.json", raw("out/report.json", "[]")),
    ("report-no-classes", E + " data.npz", 1, "report.json", report(_no_classes)),
    ("report-classes-text", E + " data.npz", 1, "report.json",
     report(lambda r: _set(r, "classes", "3"))),
    ("report-version", E + " data.npz", 1, "report.json", report(lambda r: _set(r, "version", 99))),
    ("report-input-shape", T + " data.npz", 1, "report.json",
     report(lambda r: _set(r, "input", {"shape": [1, 3, 0]}))),
    ("report-params-dtype", T + " data.npz", 1, "report.json",
     report(lambda r: _set(r["params"][0], "dtype", "f64"))),
    ("report-params-shape", T + " data.npz", 1, ("report.json", "model.h"),
     report(lambda r: _set(r["params"][0], "shape", [1000, 1000]))),
    ("report-params-missing", E + " data.npz", 1, "report.json",
     report(lambda r: _del(r, "params"))),
    ("report-symbol-injection", "build @out --no-measure", 1, "report.json",
     report(lambda r: _set(r["params"][0], "symbol", "x}; int evil(void) {"))),
    ("report-build-budget-text", "build @out --no-measure", 1, "report.json",
     report(lambda r: _set(r, "ram_budget", "lots"))),
    ("report-missing", E + " data.npz", 2, ("report.json", "out"),
     lambda w: (w / "out" / "report.json").unlink()),
    ("report-model-h-missing", E + " data.npz", 1, "model.h",
     lambda w: (w / "out" / "model.h").unlink()),
]

PARAMS = [
    ("params-garbage", E + " data.npz", 1, "params.npz",
     lambda w: F.garbage(w / "out" / "params.npz")),
    ("params-cut", T + " data.npz", 1, "params.npz",
     both(params(lambda d: None),
          lambda w: F.cut(w / "out/params.npz", w / "out/params.npz", 0.6))),
    ("params-no-step", E + " data.npz", 1, "params.npz", params(lambda d: _del(d, "__step__"))),
    ("params-neg-step", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "__step__", np.asarray(-4)))),
    ("params-float-step", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "__step__", np.asarray(1.5)))),
    ("params-missing-entry", T + " data.npz", 1, "params.npz", params(lambda d: _del(d, "head.b"))),
    ("params-extra-entry", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "other.w", np.zeros(3)))),
    ("params-wrong-dtype", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "down.w", d["down.w"].astype(np.int32)))),
    ("params-wrong-shape", T + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "head.b", np.zeros(7, np.float32)))),
    ("params-nan", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "head.w", np.full(d["head.w"].shape, NAN, np.float32)))),
    ("params-pickled", E + " data.npz", 1, "params.npz",
     params(lambda d: _set(d, "head.b", np.array([None, 1, 2], dtype=object)))),
]

EVAL = [
    ("eval-out-missing", "eval nope --data data.npz", 2, "nope"),
    ("eval-no-data", "eval @out", 2, "--data"),
    ("eval-data-missing", E + " nope.npz", 2, "nope.npz"),
    ("eval-data-cut", E + " bad.npz", 1, "bad.npz", cut("data.npz", "bad.npz", 0.4)),
    ("eval-label-beyond", E + " bad.npz", 1, "bad.npz", data(y_test=np.full(6, 5))),
    ("eval-zero-images", E + " bad.npz", 1, "bad.npz",
     data(test=False, x_train=np.zeros((0, 8, 8, 3), np.uint8), y_train=np.zeros(0, int))),
    ("eval-string-labels", E + " bad.npz", 1, "bad.npz", data(y_test=np.array(["a"] * 6))),
]

B = "build @out --no-measure"
BUILD = [
    ("build-target", B + " --target cortex-m9", 2, "--target"),
    ("build-ram-text", B + " --ram lots", 2, "--ram"),
    ("build-ram-zero", B + " --ram 0", 2, "--ram"),
    ("build-flash-neg", B + " --flash -1MB", 2, "--flash"),
    ("build-stack-text", B + " --stack deep", 2, "--stack"),
    ("build-opt", B + " --opt -O9", 2, "--opt"),
    ("build-opt-injection", [*B.split(), "--opt=-O2 -fplugin=evil.so"], 2, "--opt"),
    ("build-out-missing", "build nope --no-measure", 2, "nope"),
    ("build-out-not-ours", "build mine --no-measure", 2, "mine", raw("mine/a.txt", "x")),
]

PL = "plan model.npz --data data.npz --ram 64KB -o plan --cache @cache --quiet"
PLAN = [
    ("plan-no-ram", "plan model.npz --data data.npz -o plan", 2, "--ram"),
    ("plan-ram-text", "plan model.npz --data data.npz --ram lots -o plan", 2, "--ram"),
    ("plan-no-data", "plan model.npz --ram 64KB -o plan", 2, "--data"),
    ("plan-val-fraction-big", PL + " --val-fraction 1.5", 2, "--val-fraction"),
    ("plan-val-fraction-0", PL + " --val-fraction 0", 2, "--val-fraction"),
    ("plan-val-fraction-1", PL + " --val-fraction 1", 2, "--val-fraction"),
    ("plan-val-fraction-nan", PL + " --val-fraction nan", 2, "--val-fraction"),
    ("plan-epochs-0", PL + " --epochs 0", 2, "--epochs"),
    ("plan-seeds-0", PL + " --seeds 0", 2, "--seeds"),
    ("plan-folds-0", PL + " --folds 0", 2, "--folds"),
    ("plan-rounds-neg", PL + " --rounds -1", 2, "--rounds"),
    ("plan-drops-neg", PL + " --drops -1", 2, "--drops"),
    ("plan-promote-0", PL + " --promote 0", 2, "--promote"),
    ("plan-workers-0", PL + " --workers 0", 2, "--workers"),
    ("plan-classes-0", PL + " --classes 0", 2, "--classes"),
    ("plan-lr-nan", PL + " --lr nan", 2, "--lr"),
    ("plan-lr-neg", PL + " --lr -1", 2, "--lr"),
    ("plan-lr-text", PL + " --lr fast", 2, "--lr"),
    ("plan-method", PL + " --method magic", 2, "--method"),
    ("plan-runner", PL + " --runner bogus", 2, "--runner"),
    ("plan-model-missing", PL.replace("model.npz", "nope.npz"), 2, "nope.npz"),
    ("plan-model-garbage", PL.replace("model.npz", "g.npz"), 1, "g.npz",
     lambda w: F.garbage(w / "g.npz")),
    ("plan-data-missing", PL.replace("data.npz", "nope.npz"), 2, "nope.npz"),
    ("plan-data-cut", PL.replace("data.npz", "bad.npz"), 1, "bad.npz",
     cut("data.npz", "bad.npz", 0.5)),
    ("plan-data-zero-images", PL.replace("data.npz", "bad.npz"), 1, "bad.npz",
     data(x_train=np.zeros((0, 8, 8, 3), np.uint8), y_train=np.zeros(0, int))),
    ("plan-too-few-images", PL.replace("data.npz", "bad.npz"), 1,
     ("bad.npz", "--val-fraction", "validation"),
     data(test=False, x_train=np.zeros((3, 8, 8, 3), np.uint8), y_train=np.arange(3))),
    ("plan-out-is-file", "plan model.npz --data data.npz --ram 64KB -o data.npz --cache @cache",
     2, ("-o", "data.npz")),
]

SHOW = [
    ("show-missing", "show nope.npz", 2, "nope.npz"),
    ("show-garbage", "show g.npz", 1, "g.npz", lambda w: F.garbage(w / "g.npz")),
    ("show-update-unknown", "show model.npz --update fulll", 2, "fulll"),
    ("show-update-auto", "show model.npz --update auto", 2, "auto"),
    ("show-update-file", "show model.npz --update s.json", 1, "s.json",
     js("s.json", {"weights": {"1": 2}})),
    ("show-classes-0", "show model.npz --update full --classes 0", 2, "--classes"),
    ("show-storage", "show model.npz --storage int4", 2, "--storage"),
    ("show-zoo-garbage", "show z.pkl", 1, "z.pkl", lambda w: F.garbage(w / "z.pkl")),
]

TOP = [
    ("no-command", "", 2, ("command", "required", "choose")),
    ("unknown-command", "frobnicate", 2, "frobnicate"),
]

CASES = (DEMO + COMPILE_OPTIONS + COMPILE_SCHEMES + COMPILE_MODELS + COMPILE_TORCH + TRAIN_DATA
         + TRAIN_OPTIONS + REPORTS + PARAMS + EVAL + BUILD + PLAN + SHOW + TOP)
