"""Shared helpers of the benchmarks: models and schemes, atomic JSON, the PyTorch baseline.

The PyTorch baseline (TorchBaseline) is built from our int8 inference graph and executes its
forward nodes in float32 with dequantized parameters:

    conv2d / linear   w_real = w_int8 * s_w[o] (per output channel),
                      b_real = b_int32 * s_x * s_w[o],
                      y = clamp(conv(x, w_real) + b_real, s_y (act_min - z_y), s_y (act_max - z_y))
                      (the int8 output range as a real range: ReLU6 / ReLU / none)
    add (residual)    plain float add
    global_avgpool    mean over H x W;  dequantize: identity (values are already real);
    reshape           reshape;          linear (fresh float head): as is
    input             x_real = s_x (x_int8 - z_x)

Which parameters train follows mcutrain.autodiff.scheme exactly (parse_scheme + resolve_scheme:
the same layer indices, bias_last, and input channels ranked by L2 norm); a layer with a
channel ratio r < 1 trains its whole weight tensor in torch but with the gradient zeroed
outside the selected input channels (the channels of a depthwise conv). The fresh head of
`classes=N` is replace_head's (same seeded init) and always trains. Plain SGD, batch 1.

`python bench/common.py torch-peak MODEL.pkl SCHEME [--classes N] [--steps K]` is the child
process bench/memory.py runs to measure PyTorch's peak memory (one JSON line on stdout).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCHEMES = BENCH / "schemes"
RESULTS = BENCH / "results"
SHARED = ROOT.parent / "shared"
MODELS = ("mbv2-w0.35", "proxyless-w0.3", "mcunet-5fps")
# the ~100 KB scheme of each model (labels are the paper's compile script's own)
MAIN_SCHEME = {"mbv2-w0.35": "99kb", "proxyless-w0.3": "98kb", "mcunet-5fps": "99kb"}
TORCH_LR = 0.001  # plain SGD at 0.01 diverges on random data (no BatchNorm): keep losses finite


# ---- models, schemes, results ---------------------------------------------------------------

def model_path(name: str, shared: Path = SHARED) -> Path | None:
    """../shared/models/<name>.pkl, or None (with a message) where it is absent."""
    p = Path(shared) / "models" / f"{name}.pkl"
    if not p.exists():
        print(f"skip {name}: {p} not found (the zoo models live in ../shared/models)")
        return None
    return p


def scheme_labels(name: str) -> list[str]:
    """Labels of the paper's schemes stored for this model, smallest memory label first."""
    labels = [p.stem[len(name) + 1:] for p in SCHEMES.glob(f"{name}-*.json")]
    return sorted(labels, key=lambda s: float(s.rstrip("kb")))


def scheme_file(name: str, label: str) -> Path:
    return SCHEMES / f"{name}-{label}.json"


def load_scheme(name: str, label: str) -> dict:
    return json.loads(scheme_file(name, label).read_text())


def write_json(path: Path, data) -> Path:
    """Write JSON atomically: a temporary file in the same folder, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o)}")


# what the benchmarks' numbers depend on (not the device target, the CLI, data loaders ...)
DEPENDS = ("compile.py", "autodiff", "codegen", "frontend/zoo.py", "ir", "ops", "passes",
           "quant", "schedule", "targets/host.py", "runtime/include",
           "runtime/src")


def sources_hash() -> str:
    """sha256 (16 hex digits) over the contents of the DEPENDS files of mcutrain/."""
    import hashlib

    h = hashlib.sha256()
    pkg = ROOT / "mcutrain"
    for d in DEPENDS:
        p = pkg / d
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*")
                                               if q.suffix in (".py", ".c", ".h"))
        for f in files:
            h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def source_state() -> dict:
    """The commit the numbers come from, the files under mcutrain/ changed since it, and a
    hash of the sources the numbers depend on (compare it between runs)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = [ln[3:] for ln in git("status", "--porcelain", "--", "mcutrain").splitlines()]
    return dict(commit=git("rev-parse", "--short", "HEAD").strip() or None,
                mcutrain_changed=changed, depends_hash=sources_hash())


def kb(n) -> str:
    return "-" if n is None else f"{n / 1024:.1f}"


def zoo_graph(path, classes: int | None = None, seed: int = 0):
    """The int8 inference graph of a zoo model, with a fresh head of `classes` if given."""
    from mcutrain.frontend.zoo import load_zoo
    from mcutrain.autodiff.head import replace_head

    g = load_zoo(path)
    return replace_head(g, classes, seed) if classes else g


def random_samples(n: int, hwc=(128, 128, 3), classes: int = 10, seed: int = 0):
    """n random int8 HWC images (pixel - 128) and labels: the same inputs for C and torch."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, *hwc), dtype=np.int8)
    y = rng.integers(0, classes, size=n)
    return x, y


# ---- the PyTorch baseline --------------------------------------------------------------------

def _real_range(v, a):
    """The int8 output range [act_min, act_max] of value v as reals: s_y (q - z_y)."""
    s, z = v.q.s, v.q.zero_point
    return s * (a.get("act_min", -128) - z), s * (a.get("act_max", 127) - z)


def _torch():
    import torch  # noqa: F401  (heavy: imported only by what needs it)

    return torch


def TorchBaseline(g, scheme="full"):  # noqa: N802  (builds an nn.Module; torch imported lazily)
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    from mcutrain.autodiff.scheme import find_layers, parse_scheme, resolve_scheme

    layers = find_layers(g)
    fresh = g.meta.get("fresh_head")
    plan = resolve_scheme(parse_scheme(scheme, len(layers)), layers, g,
                          always_full=(fresh,) if fresh else ())
    by_node = {L.node: L for L in layers}

    class Baseline(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = nn.ParameterList()
            self.steps = []  # (op, input names, output name, extra)
            self.masks = {}  # param index -> float mask of the trained input channels
            xv = g.values[g.inputs[0]]
            self.x_scale, self.x_zero = xv.q.s, xv.q.zero_point
            for i, n in enumerate(g.nodes):
                self.steps.append((n.op, n.inputs, n.outputs[0], self._prepare(i, n)))
            self.output = g.outputs[0]

        def _param(self, arr, grad: bool) -> int:
            p = nn.Parameter(torch.tensor(np.asarray(arr, np.float32)), requires_grad=grad)
            self.params.append(p)
            return len(self.params) - 1

        def _prepare(self, i, n):
            if n.op not in ("conv2d", "linear"):
                if n.op not in ("add", "global_avgpool", "reshape", "dequantize"):
                    raise ValueError(f"TorchBaseline: op {n.op} is not supported")
                return dict(shape=g.values[n.outputs[0]].shape)
            L = by_node[i]
            p = plan.get(L.index, {"bias": False, "ratio": 0.0, "channels": None})
            x, w, b = (g.values[v] for v in n.inputs)
            wd = g.consts[n.inputs[1]].astype(np.float64)
            bd = g.consts[n.inputs[2]].astype(np.float64)
            if w.dtype == "i8":  # w_real = w_int8 * s_w[o]; b_real = b_int32 * s_x * s_w[o]
                sw = np.asarray(w.q.scale, np.float64)
                wd = wd * sw.reshape((-1,) + (1,) * (wd.ndim - 1))
                bd = bd * x.q.s * sw
            wi = self._param(wd, p["ratio"] > 0)
            bi = self._param(bd, bool(p["bias"]))
            if p["ratio"] > 0 and p["channels"] is not None:
                mask = np.zeros(wd.shape, np.float32)
                sel = list(p["channels"])
                if L.depthwise:
                    mask[sel] = 1.0
                else:
                    mask[:, sel] = 1.0
                self.masks[wi] = torch.tensor(mask)
                self.params[wi].register_hook(lambda gr, m=self.masks[wi]: gr * m)
            y = g.values[n.outputs[0]]
            clamp = _real_range(y, n.attrs) if y.dtype == "i8" else None
            a = n.attrs
            return dict(w=wi, b=bi, clamp=clamp, stride=tuple(a.get("stride", (1, 1))),
                        padding=tuple(a.get("padding", (0, 0))), groups=a.get("groups", 1))

        def input_from_hwc(self, x_hwc):
            """int8 HWC image(s) -> real NCHW float32: s_x (x - z_x)."""
            t = torch.from_numpy(np.asarray(x_hwc, np.int8)).to(torch.float32)
            if t.ndim == 3:
                t = t[None]
            return ((t - self.x_zero) * self.x_scale).permute(0, 3, 1, 2).contiguous()

        def forward(self, x):
            env = {g.inputs[0]: x}
            P = self.params
            for op, ins, out, e in self.steps:
                h = env[ins[0]]
                if op == "conv2d":
                    h = F.conv2d(h, P[e["w"]], P[e["b"]], e["stride"], e["padding"], 1,
                                 e["groups"])
                elif op == "linear":
                    h = F.linear(h, P[e["w"]], P[e["b"]])
                elif op == "add":
                    h = h + env[ins[1]]
                elif op == "global_avgpool":
                    h = h.mean(dim=(2, 3), keepdim=True)
                elif op == "reshape":
                    h = h.reshape((h.shape[0],) + tuple(e["shape"][1:]))  # any batch
                if e.get("clamp") is not None:
                    h = h.clamp(*e["clamp"])
                env[out] = h
            return env[self.output]

        def trained(self):
            return [p for p in self.params if p.requires_grad]

    return Baseline()


class TorchTrainer:
    """Plain SGD at batch 1 on a TorchBaseline (float32, eager)."""

    def __init__(self, g, scheme="full", lr: float = TORCH_LR):
        torch = _torch()
        self.torch = torch
        self.model = TorchBaseline(g, scheme)
        self.opt = torch.optim.SGD(self.model.trained(), lr=lr)
        self.n_trained = sum(p.numel() for p in self.model.trained())
        # values that can change: a masked weight only in its selected input channels
        self.n_effective = sum(int(self.model.masks[i].sum()) if i in self.model.masks
                               else p.numel() for i, p in enumerate(self.model.params)
                               if p.requires_grad)

    def step(self, x_hwc, label: int) -> float:
        torch = self.torch
        x = self.model.input_from_hwc(x_hwc)
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(x).reshape(1, -1)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([int(label)]))
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def logits(self, x_hwc):
        with self.torch.no_grad():
            return self.model(self.model.input_from_hwc(x_hwc)).reshape(-1).numpy().copy()


# ---- PyTorch peak memory (run in a child process) -------------------------------------------

def _proc_status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def torch_peak_child(model: str, scheme, classes: int, steps: int) -> dict:
    import gc
    import resource

    torch = _torch()
    torch.set_num_threads(1)
    g = zoo_graph(model, classes)
    tr = TorchTrainer(g, scheme)
    xs, ys = random_samples(steps + 1, classes=classes, seed=1)
    tr.logits(xs[0])  # one forward: the idle baseline includes whatever it sets up
    gc.collect()
    base_kb = _proc_status_kb("VmRSS")
    reset = _reset_peak()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    losses = [tr.step(xs[i], int(ys[i])) for i in range(steps)]
    peak_kb = _proc_status_kb("VmHWM") if reset else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if peak_kb is None:  # no clear_refs: ru_maxrss (the peak may predate the baseline)
        peak_kb = maxrss
    return dict(torch=torch.__version__, threads=1, steps=steps, classes=classes,
                trained_values=tr.n_trained, idle_rss_bytes=base_kb * 1024,
                peak_rss_bytes=peak_kb * 1024, training_peak_bytes=(peak_kb - base_kb) * 1024,
                peak_reset=reset, maxrss_before_bytes=maxrss_before * 1024,
                losses=[round(v, 4) for v in losses])


def torch_peak(model: Path, scheme="full", classes: int = 10, steps: int = 5) -> dict:
    """Peak memory of PyTorch training `model` (batch 1, `steps` steps) in a fresh process."""
    spec = json.dumps(scheme) if isinstance(scheme, dict) else str(scheme)
    cmd = [sys.executable, str(Path(__file__).resolve()), "torch-peak", str(model), spec,
           "--classes", str(classes), "--steps", str(steps)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"torch-peak child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="bench helper: PyTorch peak memory child")
    ap.add_argument("cmd", choices=["torch-peak"])
    ap.add_argument("model")
    ap.add_argument("scheme", help="full | none | bias-only:K | last:K | JSON text or file")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args(argv)
    scheme = json.loads(a.scheme) if a.scheme.lstrip().startswith("{") else a.scheme
    print(json.dumps(torch_peak_child(a.model, scheme, a.classes, a.steps)))


if __name__ == "__main__":
    _main(sys.argv[1:])
