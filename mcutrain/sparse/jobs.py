"""The planner's jobs, run by worker processes (runner.py): each is a pure function of a
small picklable dict, and what it needs (the task's graph and splits, compiled libraries,
prefix tensors) is read from the plan cache and kept per process.

    features_job   int8 tensors at cut boundaries for a chunk of images (NumPy reference)
    finetune_job   one fine-tuning run: compile the suffix after the frozen prefix (the same
                   passes and code generator as `compile`), build it against the runtime
                   objects compiled once, train with the protocol, score val / test
    memory_job     ram_bytes (and flash_bytes) of the full model's training step with a
                   scheme, from the real memory plan
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..autodiff.scheme import find_layers

@dataclass(frozen=True)
class Protocol:
    """How every fine-tuning run trains: batch 1 SGD as on the device."""
    epochs: int = 3
    lr: float | None = None  # None: chosen by plan.choose_lr (a small sweep on the val split)
    schedule: str = "cosine"  # "cosine" (to 0 over the run) or "constant"
    seed: int = 0  # sample order, fresh-head init and stochastic rounding
    qas: bool = True
    storage: str = "int8"

    def to_json(self) -> dict:
        return asdict(self)


# ---- schemes ---------------------------------------------------------------------------------

def canonical(scheme: dict, n_layers: int, fresh_head: bool) -> dict:
    """The scheme in one spelling: ratios > 0 only, a fresh head's own entries dropped (it
    always trains in full, so bias_last 1 == 0 and weights[head] mean nothing)."""
    k = int(scheme.get("bias_last", 0))
    w = {int(i): float(r) for i, r in scheme.get("weights", {}).items() if float(r) > 0}
    if fresh_head:
        w.pop(n_layers - 1, None)
        if k == 1:
            k = 0
    return {"bias_last": k, "weights": {str(i): w[i] for i in sorted(w)}}


def scheme_key(scheme: dict) -> str:
    return json.dumps(scheme, sort_keys=True, separators=(",", ":"))


def earliest_layer(scheme: dict, n_layers: int) -> int:
    """The first layer a scheme trains (the head, n - 1, when nothing else)."""
    firsts = [int(i) for i in scheme.get("weights", {})]
    if scheme.get("bias_last", 0):
        firsts.append(n_layers - int(scheme["bias_last"]))
    return min(firsts + [n_layers - 1])


def sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---- worker side: cached per process --------------------------------------------------

@lru_cache(maxsize=4)
def _task_files(task_dir: str):
    from ..ops.verify import load_graph

    g = load_graph(Path(task_dir) / "graph.npz")
    with np.load(Path(task_dir) / "split.npz") as z:
        split = {k: z[k] for k in z.files}
    return g, split


FOLD_SEED = 0  # how the default training split is cut into the other folds (fixed: the
# fold sets are part of every fold run's identity, like the split)


@lru_cache(maxsize=16)
def fold_split(task_dir: str, fold: int, folds: int):
    """(train, val) indices of fold `fold` of `folds`, over all of x_train (train + val of the
    task's split). Fold 0 is the task's own split (its runs are the plain runs); the task's
    training split is cut, class by class, into folds - 1 near-equal seeded chunks, and fold
    f >= 1 validates on chunk f - 1 of every class and trains on the rest, so every x_train
    image is validated on exactly once over the folds."""
    _, split = _task_files(task_dir)
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} of {folds}")
    if fold == 0:
        return split["train"], split["val"]
    train = split["train"]
    y = split["y"][train]
    rng = np.random.default_rng(FOLD_SEED)
    val = []
    for c in np.unique(y):
        idx = train[y == c]
        val.append(np.array_split(idx[rng.permutation(len(idx))], folds - 1)[fold - 1])
    val = np.sort(np.concatenate(val))
    if not len(val):
        raise ValueError(f"fold {fold} of {folds} has no images: the training split has fewer "
                         f"than {folds - 1} images of every class")
    keep = np.setdiff1d(np.concatenate([split["train"], split["val"]]), val)
    return keep, val


def int8_cut(g, layer: int):
    """(node k, value, suffix graph, layer offset): the last single-tensor boundary at or
    before `layer` whose tensor is int8 (what the compiled step takes as input; a float
    boundary such as a fresh head's dequantized input is skipped). The suffix is built as
    passes/cut.py builds it: the same nodes, the boundary tensor as its input."""
    from ..ir.graph import Value, prune_values
    from ..passes.cut import boundaries

    layers = find_layers(g)
    limit = layers[layer].node
    k, v = max(((kk, vv) for kk, vv in boundaries(g)
                if kk <= limit and g.values[vv].dtype == "i8"), key=lambda kv: kv[0])
    val = g.values[v]
    values = {name: x for name, x in g.values.items() if name != v}
    values[v] = Value(v, val.shape, val.dtype, val.q, "input")
    suffix = prune_values(g.replace(values=values, nodes=g.nodes[k:], inputs=(v,)))
    off = len([L for L in layers if L.node < k])
    return k, v, suffix.replace(meta=dict(g.meta, cut=dict(value=v, node=k, layer_offset=off))), off


@lru_cache(maxsize=64)
def _cut(task_dir: str, layer: int):
    """int8_cut of the task's graph, cached per process."""
    g, _ = _task_files(task_dir)
    return int8_cut(g, layer)


def cut_node(task_dir, layer: int) -> int:
    return _cut(str(task_dir), layer)[0]


def feature_path(task_dir, node: int) -> Path:
    """The prefix tensors at a cut node, computed by this version of the reference (a folder
    per code hash: an edit of an op's reference computes them again)."""
    from ..targets.fingerprint import code_hash

    return Path(task_dir) / "features" / code_hash() / f"n{node}.npy"


def features_job(job: dict) -> dict:
    """int8 HWC tensors at the given cut nodes for images [lo, hi): {node: array}."""
    from ..data.arrays import images_to_int8
    from ..ref.interp import run

    c0 = cpu_seconds()
    d = job["dir"]
    g, _ = _task_files(d)
    x = np.load(Path(d) / "images.npy", mmap_mode="r")[job["lo"]:job["hi"]]
    xin = images_to_int8(np.asarray(x))
    names = {node: g.inputs[0] if node == 0 else _boundary_value(g, node) for node in job["nodes"]}
    wanted = [v for v in names.values() if v != g.inputs[0]]
    env = run(g, {g.inputs[0]: xin}, outputs=wanted) if wanted else {}
    env[g.inputs[0]] = xin
    return dict(arrays={node: _hwc(env[v]) for node, v in names.items()},
                cpu_s=cpu_seconds() - c0)


def _hwc(a: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC; N x C -> N x 1 x 1 x C (the compiled step's input layout)."""
    if a.ndim == 4:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(a.reshape(len(a), 1, 1, -1))


def _boundary_value(g, node: int) -> str:
    from ..passes.cut import boundaries

    return dict(boundaries(g))[node]


_LIBS: dict = {}


def _build(lib_dir: Path) -> None:
    """libmodel.so of a compile output: its generated C with the host build's flags, linked
    against the runtime objects compiled once (the runtime is identical in every run)."""
    from ..targets.toolchain import build_shared, generated_sources, host_runtime_objects

    build_shared([*generated_sources(lib_dir), *host_runtime_objects()], lib_dir / "libmodel.so",
                 include_dirs=[lib_dir])


def _compile_for_run(suffix, lib_dir: Path, scheme: dict, proto: Protocol) -> None:
    """model.c / model.h exactly as compile_model generates them (same passes, same code
    generator), with the lean report.json that CompiledModel reads, built into libmodel.so.
    compile_model also copies the runtime and saves the training graph: seconds per run
    that no planner run needs. Written to a temporary folder, then renamed into place."""
    import os
    import shutil
    import tempfile

    from ..autodiff import TrainConfig
    from ..codegen.model import generate
    from ..compile import build_training_graph, write_sources

    tg = build_training_graph(suffix, TrainConfig(scheme=scheme, storage=proto.storage,
                                                  lr=proto.lr, qas=proto.qas, seed=proto.seed))
    gen = generate(tg)
    t = tg.meta["train"]
    report = dict(classes=int(tg.values[t["logits"]].size), scheme=t["scheme"],
                  input=dict(shape=list(tg.values[t["input"]].shape)),
                  params=[dict(name=n, symbol=sym, dtype=d, shape=list(sh))
                          for n, sym, d, sh in gen.cgen.trained_params()],
                  note="planner run: the suffix after the frozen prefix")
    lib_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=lib_dir.parent, prefix=f".{lib_dir.name}."))
    try:
        write_sources(tmp, gen, runtime=False)
        (tmp / "report.json").write_text(json.dumps(report))
        _build(tmp)
        os.replace(tmp, lib_dir)
    except OSError:
        if not (lib_dir / "libmodel.so").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compiled(lib_dir: Path, suffix, scheme: dict, proto: Protocol):
    """The compiled suffix (built once, reused by every run of the same code), with its
    initial parameters restored: ctypes keeps one copy of a library's state per process."""
    from ..targets.host import CompiledModel

    key = str(lib_dir)
    if key not in _LIBS:
        if not (lib_dir / "libmodel.so").exists():
            _compile_for_run(suffix, lib_dir, scheme, proto)
        cm = CompiledModel(lib_dir)
        _LIBS[key] = (cm, cm.get_params())
    cm, init = _LIBS[key]
    cm.set_params(init)
    cm.lib.mct_init()
    cm.step = 0
    return cm


def _evaluate(cm, feats, y, idx) -> tuple[float, float, str]:
    """(accuracy, mean cross-entropy, which images were right: "1"/"0" per image of idx, in
    order: what paired comparisons over the images need)."""
    right, loss = [], 0.0
    for i in idx:
        z = cm.forward(feats[i]).astype(np.float64)
        right.append("1" if np.argmax(z) == y[i] else "0")
        m = z.max()
        loss += float(m + np.log(np.exp(z - m).sum()) - z[y[i]])
    n = max(1, len(idx))
    return right.count("1") / n, loss / n, "".join(right)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the C compiler)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def finetune_job(job: dict) -> dict:
    """One fine-tuning run: compile the suffix after the frozen prefix, train on the train
    split with the protocol, score on the requested splits. job: dir, scheme (global layer
    indices), protocol, eval (tuple of "val"/"test"), lib_root; optional fold, folds: train
    and validate on that fold of x_train (fold_split) instead of the task's split. Per split
    scored: <split>_acc, <split>_loss (mean cross-entropy) and <split>_right ("1"/"0" per
    image of the split, in index order)."""
    from ..targets.fingerprint import code_hash

    t0, c0 = time.time(), cpu_seconds()
    d, scheme, proto = job["dir"], job["scheme"], Protocol(**job["protocol"])
    g, split = _task_files(d)
    n_layers = len(find_layers(g))
    first = earliest_layer(scheme, n_layers)
    node, _, suffix, off = _cut(d, first)
    sub = {"bias_last": scheme["bias_last"],
           "weights": {str(int(i) - off): r for i, r in scheme["weights"].items()}}
    lib = Path(job["lib_root"]) / sha(job["task_key"], node, scheme_key(sub), proto.storage,
                                      proto.qas, proto.seed, code_hash())
    cm = _compiled(lib, suffix, sub, proto)
    t1 = time.time()
    feats = np.load(feature_path(d, node), mmap_mode="r")
    y, train = split["y"], split["train"]
    if job.get("fold"):  # another fold of x_train: its own train and val sets
        split = dict(split)
        train, split["val"] = fold_split(d, int(job["fold"]), int(job["folds"]))
    rng = np.random.default_rng(proto.seed)
    total, step, diverged, losses = proto.epochs * len(train), 0, False, []
    for _ in range(proto.epochs):
        losses = []
        for i in rng.permutation(train):
            lr = proto.lr
            if proto.schedule == "cosine":
                lr = proto.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            cm.lr = lr
            loss = cm.train_step(feats[i], int(y[i]))
            step += 1
            if not math.isfinite(loss):
                diverged = True
                break
            losses.append(loss)
        if diverged:
            break
    t2 = time.time()
    out = dict(scheme=scheme, cut_layer=first, cut_node=int(node), steps=step,
               train_loss=float(np.mean(losses)) if losses else float("nan"), diverged=diverged,
               compile_s=round(t1 - t0, 2), train_s=round(t2 - t1, 2))
    for s in job.get("eval", ("val",)):
        if len(split[s]):
            out[f"{s}_acc"], out[f"{s}_loss"], out[f"{s}_right"] = _evaluate(cm, feats, y, split[s])
    out["seconds"] = round(time.time() - t0, 2)
    out["cpu_s"] = round(cpu_seconds() - c0, 2)
    return out


def measure_memory(graph, scheme, storage: str = "int8", qas: bool = True, seed: int = 0,
                   flash: bool = False) -> dict:
    """ram_bytes (and flash_bytes when flash=True: full code generation) of compiling
    `graph` (fresh head already in it) with `scheme`, from the real memory plan: the plan
    alone (schedule/plan.py, no C) unless flash is asked for. The plan skips the blocks of
    weight-gradient rows, which never change the RAM (plan.choose_blocks)."""
    from ..autodiff import TrainConfig
    from ..compile import build_training_graph, memory_report
    from ..schedule.plan import plan_training

    tg = build_training_graph(graph, TrainConfig(scheme=scheme, storage=storage, qas=qas,
                                                 seed=seed))
    if flash:  # the figure compile reports: the linker's when the toolchain is there
        import tempfile

        from ..codegen.model import generate
        from ..compile import io_report, kernel_calls, write_sources
        from ..targets.flash import flash_report

        mp = plan_training(tg)
        gen = generate(tg, mp)
        rep = memory_report(mp, gen)
        params = [dict(name=n, symbol=sym, dtype=d, shape=list(sh))
                  for n, sym, d, sh in gen.cgen.trained_params()]
        with tempfile.TemporaryDirectory(prefix="mcutrain-mem-") as td:
            write_sources(td, gen)
            rep.update(flash_report(td, dict(params=params, io=io_report(gen, tg)), rep,
                                    kernel_calls(gen)))
    else:
        rep = memory_report(plan_training(tg, blocks=False))
    return {k: rep[k] for k in ("ram_bytes", "flash_bytes", "arena_bytes", "params_ram_bytes")}


def flash_key(flash: bool) -> str:
    """How a memory result's flash figure was made: it differs between a linker measurement
    (and its compiler) and the estimate (targets/flash.py)."""
    if not flash:
        return "no"
    from ..targets.toolchain import arm_available, compiler_id

    return f"linker:{compiler_id('arm-none-eabi-gcc')}" if arm_available() else "estimate"


def memory_job(job: dict) -> dict:
    """measure_memory in a worker; a scheme the compiler rejects gives {"error": why}."""
    c0 = cpu_seconds()
    g, _ = _task_files(job["dir"])
    try:
        out = measure_memory(g, job["scheme"], job["storage"], True, job["seed"], job["flash"])
    except (ValueError, NotImplementedError) as e:  # PlanError, CodegenError are ValueErrors
        out = {"error": f"{type(e).__name__}: {e}"}
    out["cpu_s"] = round(cpu_seconds() - c0, 3)
    return out
