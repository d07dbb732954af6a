"""`mcutrain compile`: model + budget + update scheme -> a directory of plain C and report.json.

The output directory is written atomically: everything goes to a temporary sibling that is
renamed into place at the end, so a failure (over budget, unsupported op) leaves nothing.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from .autodiff import TrainConfig, make_training_graph
from .codegen.model import generate
from .schedule.plan import plan_training
from .ir.graph import Graph
from .ops.verify import verify
from .passes.pipeline import PIPELINE, run_pipeline
from .outdir import check_output_dir, output_dir
from .units import parse_bytes
from .ir.serialize import save_graph
from .targets.flash import flash_report
from .targets.toolchain import (INCLUDE, RUNTIME_ABI, host_makefile, runtime_headers,
                                runtime_sources)
from .errors import InputError, McuError, UsageError

REPORT_VERSION = 1


class BudgetError(McuError, ValueError):
    pass


def load_model(model, data_x=None, input_shape=None, allow_float: bool = False) -> Graph:
    """An int8 inference graph from a zoo .pkl, an int8 .tflite, a saved graph .npz, or `file.py:factory`
    (allow_float: a saved float graph too, e.g. to print it)."""
    if isinstance(model, Graph):
        return model
    spec = str(model)
    path = spec.rsplit(":", 1)[0] if re.search(r"\.py:\w+$", spec) else spec
    if spec.endswith((".pkl", ".npz", ".tflite")) or path != spec:
        if Path(path).is_dir():
            raise UsageError(f"model {path}: is a folder, not a model file")
        if not Path(path).is_file():
            raise UsageError(f"model {path}: no such file")
    if spec.endswith(".pkl"):
        from .frontend.zoo import load_zoo

        return load_zoo(spec)
    if spec.endswith(".tflite"):
        from .frontend.tflite import load_tflite

        return load_tflite(spec)
    if re.search(r"\.py:\w+$", spec):
        from .frontend.torch_fx import load_torch_factory

        return load_torch_factory(spec, data_x=data_x, input_shape=input_shape)
    if spec.endswith(".npz"):
        from .ops.verify import load_graph

        g = load_graph(spec)
        if "train" in g.meta and not allow_float:
            raise InputError(f"model {spec}: is a training graph (a compile output's "
                             "train_graph.npz); give the int8 inference graph it came from")
        if g.values[g.inputs[0]].dtype != "i8" and not allow_float:
            raise InputError(f"{spec} holds a float graph: quantize it first "
                             "(mcutrain.quant.quantize.quantize_model)")
        return g
    raise UsageError(f"unknown model {spec!r}: give a zoo .pkl, an int8 .tflite, a saved "
                     "graph .npz, or path/to/file.py:factory")


def build_training_graph(g: Graph, cfg: TrainConfig, passes=None) -> Graph:
    """The training graph after the whole pass pipeline: what the C implements."""
    return verify(run_pipeline(make_training_graph(g, cfg), passes))


def memory_report(mp, gen=None) -> dict:
    """ram figures from the memory plan (schedule/plan.py); with `gen` (codegen.model.generate of
    the same plan) also the flash estimate (targets/flash.py), which compile replaces by the
    linker's figure when it can."""
    from .targets.flash import estimate

    mem = dict(mp.ram(), frozen_params_flash_bytes=mp.storage.flash_bytes(),
               tables_flash_bytes=None, flash_bytes=None)
    if gen is not None:
        mem["tables_flash_bytes"] = gen.cgen.table_bytes()
        params = [dict(dtype=d, shape=list(sh)) for _, _, d, sh in gen.cgen.trained_params()]
        mem.update(estimate(mem, dict(params=params), kernel_calls(gen)))
    return mem


def kernel_calls(gen) -> int:
    """Generated kernel calls: one per node of the training step and of the forward."""
    return len(gen.train.nodes) + len(gen.infer.nodes)


def io_report(gen, tg: Graph) -> dict:
    """What tools need to drive the generated C without reading it: where the two entry
    points read their input and leave their logits in the arena, sizes and dtypes."""
    t = tg.meta["train"]
    x, z = tg.values[t["input"]], tg.values[t["logits"]]

    def where(v):
        return dict(train_offset=gen.train.arena_offset(v), forward_offset=gen.infer.arena_offset(v))

    logits = dict(dtype=z.dtype, count=int(z.size), **where(t["logits"]))
    if z.dtype == "i8":
        logits.update(scale=float(z.q.s), zero_point=int(z.q.zero_point))
    return dict(input=dict(dtype=x.dtype, shape=list(x.shape), bytes=int(x.size),
                           layout="HWC", **where(t["input"])),
                logits=logits, logits_copy="mct_logits(): float32 x count after either call")


def input_report(x) -> dict:
    """report.json's input: the shape (NCHW), the C's layout and the int8 quantization that
    float datasets are quantized with (uint8 images are pixel - 128)."""
    out = dict(shape=list(x.shape), layout="HWC int8 (pixel - 128)")
    if x.dtype == "i8" and x.q is not None and not x.q.per_channel:
        out.update(scale=float(x.q.s), zero_point=int(x.q.zero_point))
    return out


def plan_table(gen) -> list:
    out = []
    for tag, fg in (("train", gen.plan.train), ("forward", gen.plan.forward)):
        for b in sorted(fg.plan.buffers, key=lambda b: fg.plan.offsets[b.name]):
            out.append(dict(function=tag, value=b.name, offset=fg.plan.offsets[b.name],
                            bytes=b.size, first_step=b.first, last_step=b.last, layout=b.note))
    return out


def largest_consumers(report: dict, gen, k: int = 8) -> list:
    items = [(f"trained params ({e})", n) for e, n in (
        ("RAM", report["params_ram_bytes"]),)] + [("optimizer state", report["optimizer_state_bytes"])]
    plan = gen.plan.train.plan
    steps = {}
    for b in plan.buffers:
        for s in range(b.first, b.last + 1):
            steps.setdefault(s, []).append(b)
    if steps:
        peak_step = max(steps, key=lambda s: sum(b.size for b in steps[s]))
        for b in sorted(steps[peak_step], key=lambda b: -b.size)[:k]:
            items.append((f"arena at step {peak_step}: %{b.name} {b.note}", b.size))
    return sorted(items, key=lambda kv: -kv[1])[:k]


def compile_model(model, out_dir, update="full", classes=None, storage="int8", ram=None,
                  flash=None, lr=0.01, momentum=0.0, weight_decay=0.0, qas=True, seed=0,
                  data_x=None, input_shape=None, passes=None, name=None,
                  report_extra=None, loss=None) -> dict:
    """Compile `model` into out_dir (model.c, model.h, arena.h, weights.inc, runtime/, Makefile,
    report.json).

    An out_dir that is neither new nor an earlier compile output is refused before any
    work. report_extra: more report.json fields (the plan behind `--update auto`:
    sparse/plan.plan_and_compile)."""
    check_output_dir(out_dir, inputs=[] if isinstance(model, Graph) else [model],
                     kinds=("compile",))
    g = load_model(model, data_x=data_x, input_shape=input_shape)
    cfg = TrainConfig(scheme=update, storage=storage, lr=lr, momentum=momentum,
                      weight_decay=weight_decay, qas=qas, seed=seed, classes=classes, loss=loss)
    tg = build_training_graph(g, cfg, passes)
    mp = plan_training(tg)
    gen = generate(tg, mp)
    mem = memory_report(mp, gen)
    t = tg.meta["train"]
    report = dict(version=REPORT_VERSION, runtime_abi=RUNTIME_ABI, model=name or str(model) if not isinstance(model, Graph)
                  else (name or g.meta.get("name", "graph")), **mem,
                  ram_budget=parse_bytes(ram), flash_budget=parse_bytes(flash),
                  macs_per_step=macs_per_step(tg), scheme=t["scheme"], config=t["config"],
                  layers=t["layers"], params=[dict(name=n, symbol=s, dtype=d, shape=list(sh))
                                              for n, s, d, sh in gen.cgen.trained_params()],
                  input=input_report(tg.values[t["input"]]),
                  classes=int(tg.values[t["logits"]].size), loss=t.get("loss_kind", "ce"),
                  passes=[p.__name__ for p in (PIPELINE if passes is None else passes)],
                  io=io_report(gen, tg), plan=plan_table(gen))
    report.update(report_extra or {})
    check_budgets(report, mem, gen, flash=False)  # before the flash measurement: fail fast
    out = Path(out_dir).resolve()
    with output_dir(out, "compile") as tmp:  # a failure below leaves an earlier output as it was
        write_sources(tmp, gen)
        report.update(flash_report(tmp, report, mem, kernel_calls(gen)))
        check_budgets(report, mem, gen)
        save_graph(tg, tmp / "train_graph.npz")
        if not isinstance(model, Graph) and str(model).endswith(".tflite"):
            shutil.copy2(model, tmp / "source.tflite")  # what `export --format tflite` edits
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=_json_default))
    return report


def check_budgets(report: dict, mem: dict, gen, flash: bool = True) -> None:
    """BudgetError naming what is over (flash False: RAM only)."""
    over = []
    if report["ram_budget"] is not None and report["ram_bytes"] > report["ram_budget"]:
        over.append(("RAM", report["ram_bytes"], report["ram_budget"]))
    if flash and report["flash_budget"] is not None and report["flash_bytes"] > report["flash_budget"]:
        over.append(("flash", report["flash_bytes"], report["flash_budget"]))
    if over:
        why = "; ".join(f"{what} {need} B > budget {have} B (over by {need - have} B)"
                        for what, need, have in over)
        top = largest_consumers(mem, gen)
        raise BudgetError(f"model over budget: {why}; largest consumers: "
                          + ", ".join(f"{what} {n} B" for what, n in top[:3])
                          + " (--debug lists more)",
                          details=[f"{n:>9} B  {what}" for what, n in top])


def macs_per_step(tg: Graph) -> int:
    from .ops.registry import get_op

    total = 0
    for n in tg.nodes:
        total += get_op(n.op).count_macs([tg.values[i] for i in n.inputs],
                                         [tg.values[o] for o in n.outputs], n.attrs)
    return int(total)


def makefile() -> str:
    """The host Makefile shipped in every output (targets/toolchain.py: the flags and sources
    of the tested host build)."""
    return host_makefile()


def write_sources(folder: Path, gen, runtime: bool = True) -> None:
    """The C of a compile output: the generated files, the runtime copy and the host Makefile
    (runtime False: the generated files only, as the planner's runs need them)."""
    folder = Path(folder)
    for name, text in gen.files().items():  # model.c #includes arena.h and weights.inc
        (folder / name).write_text(text)
    if not runtime:
        return
    (folder / "runtime" / "include").mkdir(parents=True)
    (folder / "runtime" / "src").mkdir()
    for p in INCLUDE.glob("*.h"):
        shutil.copy2(p, folder / "runtime" / "include" / p.name)
    for p in runtime_sources() + [h for h in runtime_headers() if h.parent.name == "src"]:
        shutil.copy2(p, folder / "runtime" / "src" / p.name)
    (folder / "Makefile").write_text(makefile())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o)}")
