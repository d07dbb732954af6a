"""Contribution analysis: the measured accuracy gain of each parameter group (the paper's method).

With a fresh head (or the model's own classifier) fine-tuned on DATA's training split, every
measurement is a short real fine-tuning run of the compiled C training step (host build),
scored on a validation split carved from x_train (x_test is kept for the final report):

    base        the no-update scheme (only a fresh head trains)                  acc_0
    bias k      biases of the last k layers, k = 1..n                            acc_b[k]
    weight i,r  layer i's weights at ratio r (1/8, 1/4, 1/2, 1) on top of the
                best bias-only setting k*                                         acc_w[i, r]
    gains       dacc_b[k] = acc_b[k] - acc_0,  dacc_w[i, r] = acc_w[i, r] - acc_b[k*]

With several analysis seeds, the weight options are raced over them (race(): successive
halving): every option runs with the first seed, and only those still in contention go on to
the next: the leading share (Engine.promote, 1/3 in a plan) and every option whose gain over
k* so far is positive (the only ones the search can use); the others stop there, with a gain
that is not positive, and the search does not use them.

Memory of each setting is `ram_bytes` of the full model's compiled training step (the real
plan), measured before any run: a setting over the budget is not trained at all.

Frozen prefix: a run trains nothing before its earliest trained layer e, so the int8 tensor
at the last single-tensor boundary before e (passes/cut.py) is computed once per image for
all runs (NumPy reference, bit-exact with the C), stored in the plan cache, and each run
compiles and trains only the suffix (which trains exactly as the full model would).

Every run is a pure function of a small dict (job), executed by a runner (runner.py) in
worker processes: `finetune_job`, `memory_job` and `features_job` (jobs.py) are what the
workers call; the Engine here decides what to run and caches each result. Same seed, same
sample order and same splits for every run.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..schedule.memory import PLANNER_VERSION
from ..targets.fingerprint import code_hash
from .jobs import (Protocol, canonical, cut_node, earliest_layer, feature_path, features_job,
                   finetune_job, flash_key, memory_job, scheme_key, sha)
from ..autodiff.scheme import find_layers

RATIOS = (0.125, 0.25, 0.5, 1.0)


# ---- task: model + data + splits, stored in the plan cache ----------------------------------

def graph_key(g) -> str:
    from ..ir.printer import format_graph

    parts = [format_graph(g, full=True), json.dumps(g.meta, sort_keys=True, default=str)]
    for name in sorted(g.consts):
        parts.append(name)
        parts.append(np.ascontiguousarray(g.consts[name]).tobytes())
    return sha(*parts)


def stratified_split(y: np.ndarray, fraction: float, seed: int):
    """(train indices, validation indices): `fraction` of each class, seeded."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        val.extend(idx[:int(round(fraction * len(idx)))].tolist())
    val = np.sort(np.asarray(val, np.int64))
    train = np.setdiff1d(np.arange(len(y)), val)
    return train, val


@dataclass
class Task:
    """What the runs share. Lives in `dir`: graph.npz (inference graph, fresh head included),
    images.npy (uint8 images or int8 inputs, HWC, train then test), split.npz (labels and index sets)."""
    dir: Path
    key: str
    graph: object
    n_layers: int
    fresh_head: bool
    classes: int
    n_train: int
    n_val: int
    n_test: int
    name: str = ""
    info: dict = field(default_factory=dict)


def prepare_task(graph, data: dict, cache_root, classes=None, val_fraction: float = 0.2,
                 split_seed: int = 0, seed: int = 0, name: str = "") -> Task:
    """Write (once) the task files into the cache and return the Task.

    data: x_train, y_train[, x_test, y_test] as uint8 images (or int8 model inputs)
    N x H x W x C at the model's input size. classes: a fresh head of that many outputs (None: the model's own classifier)."""
    from ..ir.serialize import save_graph
    from ..autodiff.head import replace_head

    if classes:
        graph = replace_head(graph, int(classes), seed)
    n_layers = len(find_layers(graph))
    y_tr = np.asarray(data["y_train"], np.int64)
    x_te = data.get("x_test")
    y_te = np.asarray(data["y_test"], np.int64) if x_te is not None else np.zeros(0, np.int64)
    tr, va = stratified_split(y_tr, val_fraction, split_seed)
    # uint8 images or int8 model inputs (data.datasets.load_dataset), one kind for both splits
    dt = np.int8 if np.asarray(data["x_train"]).dtype == np.int8 else np.uint8
    xs = [np.asarray(data["x_train"], dt)] + ([np.asarray(x_te, dt)] if x_te is not None else [])
    h = hashlib.sha256(np.dtype(dt).name.encode())
    for a in xs + [y_tr, y_te]:
        h.update(np.ascontiguousarray(a).tobytes())
    key = sha(graph_key(graph), h.hexdigest(), val_fraction, split_seed)
    d = Path(cache_root) / key
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "split.npz").exists():
        x_all = np.concatenate(xs) if len(xs) > 1 else xs[0]
        _atomic(d / "images.npy", lambda f: np.save(f, np.ascontiguousarray(x_all)))
        save_graph(graph, d / "graph.npz")
        n = len(y_tr)
        _atomic(d / "split.npz", lambda f: np.savez(
            f, y=np.concatenate([y_tr, y_te]), train=tr, val=va,
            test=np.arange(n, n + len(y_te))))
    out_classes = int(np.prod(graph.values[graph.outputs[0]].shape[1:]))
    return Task(d, key, graph, n_layers, bool(graph.meta.get("fresh_head")), out_classes,
                len(tr), len(va), len(y_te), name)


def _atomic(path: Path, write):
    import os
    import uuid

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---- parent side: the engine that runs (cached) jobs ------------------------------------------

class Engine:
    """Runs memory measurements, prefix features and fine-tuning runs for one Task through a
    runner, each result cached (cache.get / cache.put) as soon as it finishes."""

    def __init__(self, task: Task, cache, runner, protocol: Protocol = Protocol(),
                 progress: bool = True, flash: bool = False, chunk: int = 64, seeds: int = 1,
                 folds: int = 1, promote: float = 1.0):
        self.task, self.cache, self.runner = task, cache, runner
        self.protocol, self.progress, self.flash, self.chunk = protocol, progress, flash, chunk
        self.seeds = int(seeds)  # analysis seeds: protocol.seed, protocol.seed + 1, ...
        self.folds = int(folds)  # folds of x_train the selection scores candidates on
        # racing: after each seed, this share of the settings still in the race gets the next
        # (race(); 1: every setting gets every seed)
        self.promote = check_promote(promote)
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, not {seeds}")
        if self.folds < 1:
            raise ValueError(f"folds must be at least 1, not {folds}")
        self.stats = dict(runs=0, runs_hits=0, memory=0, memory_hits=0, feature_images=0,
                          cpu_s=0.0)  # CPU seconds of the jobs run (not of cache hits)

    def canon(self, scheme) -> dict:
        from ..autodiff.scheme import parse_scheme

        if not isinstance(scheme, dict):
            scheme = parse_scheme(scheme, self.task.n_layers).to_json()
        return canonical(scheme, self.task.n_layers, self.task.fresh_head)

    def _cached(self, kind, keys, jobs, fn, desc):
        from .runner import run_jobs

        out = [self.cache.get(kind, k) for k in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        hits = len(keys) - len(todo)
        stat = "runs" if kind == "run" else "memory"
        self.stats[stat] += len(todo)
        self.stats[stat + "_hits"] += hits

        def done(j, r):
            self.cache.put(kind, keys[todo[j]], r)
            out[todo[j]] = r
            self.stats["cpu_s"] += r.get("cpu_s", 0.0)

        run_jobs(self.runner, fn, [jobs[i] for i in todo], desc=desc,
                 progress=self.progress and bool(todo), on_result=done)
        return out

    def memory(self, schemes, desc: str = "memory") -> list[dict]:
        """Memory of the full model's training step for each scheme (cached)."""
        schemes = [self.canon(s) for s in schemes]
        p = self.protocol
        keys = [f"{scheme_key(s)}|{p.storage}|{p.seed}|flash={flash_key(self.flash)}|"
                f"planner={PLANNER_VERSION}|code={code_hash()}" for s in schemes]
        jobs = [dict(dir=str(self.task.dir), scheme=s, storage=p.storage, seed=p.seed,
                     flash=self.flash) for s in schemes]
        return self._cached("memory", keys, jobs, memory_job, desc)

    def ensure_features(self, nodes) -> None:
        """Compute (once, in parallel over image chunks) the prefix tensors at these nodes."""
        from .runner import run_jobs

        d = self.task.dir
        todo = sorted({int(n) for n in nodes if not feature_path(d, n).exists()})
        if not todo:
            return
        n_img = int(np.load(d / "images.npy", mmap_mode="r").shape[0])
        jobs = [dict(dir=str(d), nodes=todo, lo=lo, hi=min(lo + self.chunk, n_img))
                for lo in range(0, n_img, self.chunk)]
        feature_path(d, 0).parent.mkdir(parents=True, exist_ok=True)
        arrays, tmps = {}, {}

        def done(j, res):
            self.stats["cpu_s"] += res["cpu_s"]
            for node, a in res["arrays"].items():
                if node not in arrays:
                    tmps[node] = feature_path(d, node).with_suffix(".tmp.npy")
                    arrays[node] = np.lib.format.open_memmap(
                        tmps[node], mode="w+", dtype=np.int8, shape=(n_img,) + a.shape[1:])
                arrays[node][jobs[j]["lo"]:jobs[j]["hi"]] = a

        run_jobs(self.runner, features_job, jobs, desc=f"prefix features ({len(todo)} cuts)",
                 progress=self.progress, on_result=done)
        import os

        for node, a in arrays.items():
            a.flush()
            del a
            os.replace(tmps[node], feature_path(d, node))
        self.stats["feature_images"] += n_img * len(todo)

    def finetune(self, schemes, protocol=None, evals=("val", "test"),
                 desc: str = "fine-tuning runs", fold=0, folds: int = 1) -> list[dict]:
        """One fine-tuning run per scheme (cached by task, scheme, protocol and splits).
        protocol: one for all runs (default: the engine's), or a list, one per scheme.
        fold: 0 (the task's split), or a fold 1 .. folds - 1 of x_train (jobs.fold_split), one
        for all runs or a list, one per scheme."""
        schemes = [self.canon(s) for s in schemes]
        protos = protocol if isinstance(protocol, (list, tuple)) else [protocol or self.protocol] * len(schemes)
        if any(p.lr is None for p in protos):
            raise ValueError("the protocol has no learning rate yet (plan.choose_lr picks one)")
        t = self.task
        self.ensure_features({cut_node(t.dir, earliest_layer(s, t.n_layers)) for s in schemes})
        fl = [int(f) for f in fold] if isinstance(fold, (list, tuple)) else [int(fold)] * len(schemes)
        pj = [p.to_json() for p in protos]
        keys = [f"{scheme_key(s)}|{scheme_key(p)}|{','.join(evals)}" + (f"|fold={f}/{folds}" if f else "")
                + f"|code={code_hash()}" for s, p, f in zip(schemes, pj, fl)]
        jobs = [dict(dir=str(t.dir), task_key=t.key, scheme=s, protocol=p, eval=tuple(evals),
                     lib_root=str(t.dir / "libs"), fold=f, folds=int(folds))
                for s, p, f in zip(schemes, pj, fl)]
        return self._cached("run", keys, jobs, finetune_job, desc)

    def seed_protocols(self, seeds: int | None = None) -> list:
        """The engine's protocol with seeds protocol.seed, protocol.seed + 1, ... (the first is
        the protocol itself: its runs are the single-seed runs, same cache keys)."""
        n = self.seeds if seeds is None else int(seeds)
        return [replace(self.protocol, seed=self.protocol.seed + i) for i in range(n)]

    def finetune_seeds(self, schemes, seeds: int | None = None,
                       desc: str = "fine-tuning runs") -> list[dict]:
        """Each scheme trained once per analysis seed (one batch of jobs, cached per run) ->
        per scheme: val_acc / test_acc the means over the seeds, val_accs / test_accs the
        per-seed values (seed order), val_se / test_se the standard errors of the means (None
        for one seed), seeds, and run0 (the protocol seed's run)."""
        protos = self.seed_protocols(seeds)
        n = len(protos)
        flat = self.finetune([s for s in schemes for _ in protos],
                             protocol=[p for _ in schemes for p in protos], desc=desc)
        return [seed_summary(flat[j * n:(j + 1) * n], [p.seed for p in protos])
                for j in range(len(schemes))]

    def scored_runs(self, schemes, desc: str = "fine-tuning runs",
                    promote: float | None = None, contends=None) -> list[dict]:
        """What the selection decides on: each scheme trained with the analysis seeds on the
        task's split (fold 0: finetune_seeds' runs, same cache keys) and on folds 1 ..
        folds - 1 of x_train (jobs.fold_split), raced over the seeds (race(); promote:
        default the engine's). Per scheme: finetune_seeds' fields over the seeds it got, and
        cv_acc (the mean over folds and those seeds, i.e. over every x_train image once per
        seed), cv_accs (per fold, the mean over the seeds), cv_se (the standard error over the
        folds; None for one fold), folds, cv_right (per seed, which images it got right,
        "1"/"0", over the validation images of fold 0 and then of folds 1 .. folds - 1: every
        x_train image once, in the same order for every scheme, so that two schemes' scores
        can be compared paired by image; None where a cached run predates per-image results),
        raced_out (True where the race stopped it before the last seed: its score rests on
        fewer seeds, so it is never chosen over a scheme that got them all), cv_seed_accs (per
        seed it got, its score over the folds: what the race compares). contends(j, scores):
        scheme j, with these per-seed scores so far, stays in the race whatever its rank (race()).
        With one fold, cv_acc is val_acc."""
        schemes = list(schemes)
        k = int(self.folds)
        protos = self.seed_protocols()

        def run_seed(s: int, items: list) -> list:
            p = protos[s]
            tag = f"{desc}, seed {p.seed}" + (f" ({len(items)} of {len(schemes)})" if len(items) < len(schemes) else "")
            plain = self.finetune([schemes[j] for j in items], protocol=p, desc=tag)
            flat = []
            if k > 1:
                flat = self.finetune([schemes[j] for j in items for _ in range(1, k)], protocol=p,
                                     evals=("val",), desc=tag + f", folds 1-{k - 1}",
                                     fold=[f for _ in items for f in range(1, k)], folds=k)
            out = []
            for m, r in enumerate(plain):
                mine = flat[m * (k - 1):(m + 1) * (k - 1)]
                rights = [x.get("val_right") for x in [r] + mine]
                out.append(dict(run=r, folds=[x["val_acc"] for x in mine],
                                right=None if None in rights else "".join(rights)))
            return out

        def score(res) -> float:
            return float(np.mean([res["run"]["val_acc"]] + res["folds"]))

        raced = race(len(schemes), len(protos), self.promote if promote is None else promote,
                     run_seed, score, None if contends is None else
                     (lambda j, res: contends(j, [score(r) for r in res])))
        rows = []
        for per_seed in raced:
            row = seed_summary([x["run"] for x in per_seed], [p.seed for p in protos[:len(per_seed)]])
            accs = [row["val_acc"]] + [float(np.mean([x["folds"][f] for x in per_seed]))
                                       for f in range(k - 1)]
            m, se = mean_se(accs)
            rights = [x["right"] for x in per_seed]
            row.update(cv_acc=m, cv_se=se, cv_accs=accs, folds=k,
                       cv_right=None if None in rights else rights,
                       cv_seed_accs=[score(x) for x in per_seed],
                       raced_out=len(per_seed) < len(protos))
            rows.append(row)
        return rows


def check_promote(promote) -> float:
    p = float(promote)
    if not 0 < p <= 1:
        raise ValueError(f"promote must be in (0, 1], not {promote}")
    return p


def race(n_items: int, n_seeds: int, promote: float, run_seed, score,
         contends=None) -> list[list]:
    """Successive halving over seeds: every item is run with seed 0; after each seed, the best
    ceil(promote x the items still in the race) by their mean score over the seeds so far
    (ties: the lower index), and every item for which contends(j, its results so far) is
    true, go on to the next seed; the others stop there. Each seed's runs are one batch.
    run_seed(s, items) -> one result per item (seed index s); score(result) -> float, higher
    is better. Returns per item its results in seed order (at least one).

    Why: a setting's mean over seeds is what the decisions compare, and the extra seeds
    matter where a decision can still go either way: among the settings that lead (and, for
    a search that combines many settings, every one it could still use: `contends`). A
    setting far behind after its first seed is not chosen whatever its second seed gives (the
    noise is the same for all), so its second run is spent where it can change the outcome.
    promote = 1: every item gets every seed (the plain multi-seed mean)."""
    promote = check_promote(promote)
    out: list = [[] for _ in range(n_items)]
    alive = list(range(n_items))
    for s in range(n_seeds):
        if s > 0:
            keep = max(1, math.ceil(promote * len(alive) - 1e-9))
            mean = {j: float(np.mean([score(r) for r in out[j]])) for j in alive}
            lead = sorted(alive, key=lambda j: (-round(mean[j], 12), j))[:keep]
            alive = sorted(set(lead) | {j for j in alive if contends and contends(j, out[j])})
        if not alive:
            break
        for j, r in zip(alive, run_seed(s, alive)):
            out[j].append(r)
    return out


def mean_se(values) -> tuple[float, float | None]:
    """Mean and standard error of the mean (sample sd / sqrt(n); None for n < 2)."""
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None)


def seed_summary(runs: list, seeds: list) -> dict:
    """Per split and measure (acc, loss: the mean cross-entropy over the images): the mean over
    the seeds (val_acc, val_loss, ...), the per-seed values (val_accs, val_losses, ...) and the
    standard error of the mean (val_se, val_loss_se, ...)."""
    out = dict(seeds=list(seeds), run0=runs[0])
    for split in ("val", "test"):
        for m_, many, se_ in (("acc", "accs", "se"), ("loss", "losses", "loss_se")):
            vals = [r.get(f"{split}_{m_}") for r in runs]
            if any(v is None for v in vals):
                out.update({f"{split}_{m_}": None, f"{split}_{many}": vals, f"{split}_{se_}": None})
                continue
            m, se = mean_se(vals)
            out.update({f"{split}_{m_}": m, f"{split}_{many}": vals, f"{split}_{se_}": se})
    return out


# ---- the analysis ------------------------------------------------------------------------------

def oriented(e: dict, metric: str) -> float:
    """A setting's measurement in the metric, oriented so that higher is better."""
    return -e["loss"] if metric == "loss" else e["acc"]


def _seed_mean(e: dict, n: int, metric: str) -> float:
    """The mean of the first n per-seed values, oriented (higher is better)."""
    return -float(np.mean(e["losses"][:n])) if metric == "loss" else float(np.mean(e["accs"][:n]))


@dataclass
class Contributions:
    """Measured accuracies (validation split) and memory of every setting of the analysis.

    Every "acc" is the mean validation accuracy over the analysis seeds (`seeds`: protocol
    seed, seed + 1, ...); "accs" holds the per-seed values and "se" the standard error of the
    mean (None for one seed); "loss", "losses", "loss_se" the same for the mean validation
    cross-entropy. `metric` says which of the two the gains (and k*) are measured in:
    "acc": gain = accuracy difference; "loss": gain = loss decrease.

    bias[k]       {"acc", "accs", "se", "ram"} of bias-only k (trained settings; k = 0 is the base)
    depth[k]      ram_bytes of bias-only k for every k (memory only): what backpropagating
                  down to layer n - k costs, the depth term of the search's memory model
    weights[i, r] {"acc", "ram", "alone", "cost"}: accuracy and ram of bias k* + W(i, r),
                  ram of W(i, r) alone (no biases), and its own cost without the depth term:
                  ram(k* + W) - depth[k*] when layer i is within the last k* layers, else
                  ram(W alone) - depth[n - i]; "raced_out": True where the race over the
                  seeds (race(), Engine.promote) stopped the option before the last seed
                  (its gain so far was not positive, and it did not lead): its values are
                  over the seeds it got, and the search does not use it
    """
    n_layers: int
    fresh_head: bool
    base: dict
    bias: dict
    best_k: int
    weights: dict
    depth: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)  # [(setting, reason)]
    seeds: int = 1  # how many seeds each accuracy is the mean of
    metric: str = "acc"  # what a gain is: "acc" (accuracy up) or "loss" (validation loss down)

    def value(self, e: dict, metric: str | None = None) -> float:
        return oriented(e, metric or self.metric)

    def bias_gain(self, k: int, metric: str | None = None) -> float:
        return self.value(self.bias[k], metric) - self.value(self.base, metric)

    def weight_gain(self, i: int, r: float, metric: str | None = None) -> float:
        """The option's gain over bias k*, paired by seed: over the seeds the option was run
        with (an option the race stopped early is compared with k*'s runs of those seeds)."""
        w, ref = self.weights[(i, r)], self.bias[self.best_k]
        n = len(w.get("accs") or [None])
        if n < len(ref.get("accs") or [None]):
            return _seed_mean(w, n, metric or self.metric) - _seed_mean(ref, n, metric or self.metric)
        return self.value(w, metric) - self.value(ref, metric)

    def usable(self, i: int, r: float) -> bool:
        """Whether the search may use the option: not stopped early by the race (a raced-out
        option did not lead, and its gain over its seeds was not positive)."""
        return not self.weights[(i, r)].get("raced_out")

    def predicted_acc(self, scheme: dict) -> float:
        """Base accuracy + the measured accuracy gains of the scheme's bias setting and weight
        options (capped at 1): the paper's additive prediction, in accuracy whatever the
        metric. An option the analysis did not measure adds nothing."""
        k = int(scheme.get("bias_last", 0))
        a = self.bias_gain(k, "acc") if k in self.bias else 0.0
        for i, r in scheme.get("weights", {}).items():
            if (int(i), float(r)) in self.weights:
                a += self.weight_gain(int(i), float(r), "acc")
        return min(1.0, self.base["acc"] + a)

    def to_json(self) -> dict:
        return dict(n_layers=self.n_layers, fresh_head=self.fresh_head, base=self.base,
                    best_k=self.best_k, skipped=self.skipped, seeds=self.seeds, metric=self.metric,
                    depth={str(k): v for k, v in sorted(self.depth.items())},
                    bias=[dict(k=k, **v) for k, v in sorted(self.bias.items())],
                    weights=[dict(layer=i, ratio=r, **v) for (i, r), v in sorted(self.weights.items())])

    @classmethod
    def from_json(cls, d: dict) -> "Contributions":
        strip = lambda e, ks: {k: v for k, v in e.items() if k not in ks}  # noqa: E731
        return cls(d["n_layers"], d["fresh_head"], d["base"],
                   {e["k"]: strip(e, ("k",)) for e in d["bias"]}, d["best_k"],
                   {(e["layer"], e["ratio"]): strip(e, ("layer", "ratio")) for e in d["weights"]},
                   {int(k): v for k, v in d.get("depth", {}).items()},
                   [tuple(s) for s in d.get("skipped", [])], int(d.get("seeds", 1)),
                   d.get("metric", "acc"))


def weight_options(graph, layers=None, ratios=RATIOS, fresh_head: bool = True) -> list:
    """(layer, ratio) pairs to measure: every layer but a fresh head; ratios that select the
    same number of channels collapse to the smallest; grouped (not depthwise) convs: r = 1."""
    found = find_layers(graph)
    n = len(found)
    out = []
    for L in found:
        if (fresh_head and L.index == n - 1) or (layers is not None and L.index not in layers):
            continue
        c = L.in_channels
        seen = set()
        for r in sorted(ratios):
            if L.groups > 1 and not L.depthwise and r < 1:
                continue
            n_ch = c if r >= 1 else max(1, int(r * c))
            if n_ch not in seen:
                seen.add(n_ch)
                out.append((L.index, float(r)))
    return out


def _fits(mem: dict, ram, flash) -> str | None:
    if "error" in mem:
        return f"not compilable: {mem['error']}"
    if ram is not None and mem["ram_bytes"] > ram:
        return f"ram {mem['ram_bytes']} B > budget {ram} B"
    if flash is not None and mem.get("flash_bytes") is not None and mem["flash_bytes"] > flash:
        return f"flash {mem['flash_bytes']} B > budget {flash} B"
    return None


def _acc(r: dict) -> dict:
    return dict(acc=r["val_acc"], se=r["val_se"], accs=r["val_accs"], loss=r["val_loss"],
                loss_se=r["val_loss_se"], losses=r["val_losses"])


METRICS = ("loss", "acc")


def analyze(engine: Engine, ram=None, flash=None, ratios=RATIOS, layers=None,
            max_bias: int | None = None, seeds: int | None = None,
            metric: str = "acc") -> Contributions:
    """Contribution analysis under an optional budget (settings over it are not trained).
    Every setting's accuracy (and loss) is its mean over `seeds` runs (default: the engine's
    analysis seeds) on the validation split; k* and every gain are computed on these means,
    in `metric`: "acc" (validation accuracy) or "loss" (validation cross-entropy, lower is
    better: a finer measure, since a few hundred images move accuracy in steps of 1/n)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    seeds = engine.seeds if seeds is None else int(seeds)
    t = engine.task
    n = t.n_layers
    ks = [k for k in range(0, (max_bias or n) + 1) if not (t.fresh_head and k == 1)]
    bias_schemes = [{"bias_last": k, "weights": {}} for k in ks]
    mems = dict(zip(ks, engine.memory(bias_schemes, desc="memory: bias settings")))
    depth = {k: m.get("ram_bytes") for k, m in mems.items()}
    if t.fresh_head:
        depth[1] = depth[0]  # the fresh head trains its bias anyway
    skipped, keep = [], []
    for k in ks:
        why = _fits(mems[k], ram, flash)
        if why and k == 0:  # BudgetError: a ValueError too, and one line in the CLI
            from ..compile import BudgetError

            raise BudgetError(f"the budget does not even fit training the head alone: {why}")
        (skipped.append((f"bias_last={k}", why)) if why else keep.append(k))
    runs = engine.finetune_seeds([{"bias_last": k, "weights": {}} for k in keep], seeds,
                                 desc=f"runs: bias-only ({seeds} seeds)")
    bias = {k: dict(**_acc(r), ram=depth[k]) for k, r in zip(keep, runs)}
    best_k = max(bias, key=lambda k: (round(oriented(bias[k], metric), 9), -bias[k]["ram"]))
    opts = weight_options(t.graph, layers, ratios, t.fresh_head)
    w_ref = [{"bias_last": best_k, "weights": {str(i): r}} for i, r in opts]
    w_alone = [{"bias_last": 0, "weights": {str(i): r}} for i, r in opts]
    mem = engine.memory(w_ref + w_alone, desc="memory: weight settings")
    todo = []
    for j, (i, r) in enumerate(opts):
        m_ref, m_alone = mem[j], mem[len(opts) + j]
        why = _fits(m_alone, ram, flash) or _fits(m_ref, None, None)  # alone: the cheapest
        if why:
            skipped.append((f"layer {i} ratio {r}", why))
            continue
        inside = i >= n - best_k
        cost = (m_ref["ram_bytes"] - depth[best_k]) if inside else \
            (m_alone["ram_bytes"] - depth.get(n - i, m_alone["ram_bytes"]))
        todo.append(((i, r), w_ref[j], dict(ram=m_ref["ram_bytes"], alone=m_alone["ram_bytes"],
                                           cost=int(cost))))
    protos = engine.seed_protocols(seeds)
    value = lambda r: oriented(dict(acc=r["val_acc"], loss=r["val_loss"]), metric)  # noqa: E731
    ref = [oriented(dict(acc=a, loss=l), metric)  # k*'s value per seed, oriented
           for a, l in zip(bias[best_k]["accs"], bias[best_k]["losses"])]

    def gaining(j, rs):  # a positive gain over k* so far (paired by seed): the search may use it
        return float(np.mean([value(r) - ref[s] for s, r in enumerate(rs)])) > 0

    raced = race(len(todo), len(protos), engine.promote,
                 lambda s, items: engine.finetune(
                     [todo[j][1] for j in items], protocol=protos[s],
                     desc=f"runs: weights, seed {protos[s].seed} ({len(items)} options)"),
                 value, contends=gaining)
    weights = {}
    for (ir, _, m), rs in zip(todo, raced):
        e = dict(**_acc(seed_summary(rs, [p.seed for p in protos[:len(rs)]])), **m)
        if len(rs) < len(protos):
            e["raced_out"] = True
        weights[ir] = e
    return Contributions(n, t.fresh_head, bias[0], bias, best_k, weights, depth, skipped, seeds,
                         metric)
