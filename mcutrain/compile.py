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
from .codegen.model import FILES, generate
from .schedule.plan import plan_training
from .ir.graph import Graph
from .ops.verify import verify
from .passes.pipeline import PIPELINE, run_pipeline
from .outdir import check_output_dir, output_dir
from .units import parse_bytes
from .targets.host import CFLAGS as HOST_CFLAGS
from .targets.host import INCLUDE, RUNTIME_ABI, runtime_sources
from .errors import InputError, McuError, UsageError

REPORT_VERSION = 1


class BudgetError(McuError, ValueError):
    pass


def load_model(model, data_x=None, input_shape=None, allow_float: bool = False) -> Graph:
    """An int8 inference graph from a zoo .pkl, a saved graph .npz, or `file.py:factory`
    (allow_float: a saved float graph too, e.g. to print it)."""
    if isinstance(model, Graph):
        return model
    spec = str(model)
    path = spec.rsplit(":", 1)[0] if re.search(r"\.py:\w+$", spec) else spec
    if spec.endswith((".pkl", ".npz")) or path != spec:
        if Path(path).is_dir():
            raise UsageError(f"model {path}: is a folder, not a model file")
        if not Path(path).is_file():
            raise UsageError(f"model {path}: no such file")
    if spec.endswith(".pkl"):
        from .frontend.zoo import load_zoo

        return load_zoo(spec)
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
    raise UsageError(f"unknown model {spec!r}: give a zoo .pkl, a saved graph .npz, or "
                     "path/to/file.py:factory")


def build_training_graph(g: Graph, cfg: TrainConfig, passes=None) -> Graph:
    """The training graph after the whole pass pipeline: what the C implements."""
    return verify(run_pipeline(make_training_graph(g, cfg), passes))


def memory_report(mp, gen=None) -> dict:
    """ram figures from the memory plan (schedule/plan.py); flash figures from the generated
    storage and code when `gen` (codegen.model.generate of the same plan) is given, else None."""
    mem = mp.ram()
    flash = dict(flash_bytes=None, frozen_params_flash_bytes=mp.storage.flash_bytes(),
                 tables_flash_bytes=None, code_flash_bytes_estimate=None)
    if gen is not None:
        tables, code_est = gen.cgen.table_bytes(), estimate_code_bytes(gen)
        flash.update(flash_bytes=flash["frozen_params_flash_bytes"] + tables + code_est,
                     tables_flash_bytes=tables, code_flash_bytes_estimate=code_est)
    keys = ("ram_bytes", "flash_bytes", "arena_bytes", "arena_lower_bound", "params_ram_bytes",
            "optimizer_state_bytes", "static_ram_bytes", "frozen_params_flash_bytes",
            "tables_flash_bytes", "code_flash_bytes_estimate")  # report.json's order
    return {k: mem[k] if k in mem else flash[k] for k in keys}


def estimate_code_bytes(gen) -> int:
    """Code size estimate: kernels plus about 48 bytes per generated call (Cortex-M Thumb-2
    figures are measured by the device build; this keeps flash_bytes honest before it)."""
    kernels = 24 * 1024
    calls = sum(1 for ln in gen.model_c.splitlines() if "st |=" in ln or "loss =" in ln)
    return kernels + 48 * calls


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
                  report_extra=None) -> dict:
    """Compile `model` into out_dir (model.c, model.h, arena.h, weights.c, runtime/, Makefile,
    report.json).

    An out_dir that is neither new nor an earlier compile output is refused before any
    work. report_extra: more report.json fields (the plan behind `--update auto`:
    sparse/plan.plan_and_compile)."""
    check_output_dir(out_dir, inputs=[] if isinstance(model, Graph) else [model],
                     kinds=("compile",))
    g = load_model(model, data_x=data_x, input_shape=input_shape)
    cfg = TrainConfig(scheme=update, storage=storage, lr=lr, momentum=momentum,
                      weight_decay=weight_decay, qas=qas, seed=seed, classes=classes)
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
                  input=dict(shape=list(tg.values[t["input"]].shape), layout="HWC int8 (pixel - 128)"),
                  classes=int(tg.values[t["logits"]].size),
                  passes=[p.__name__ for p in (PIPELINE if passes is None else passes)],
                  plan=plan_table(gen))
    report.update(report_extra or {})
    over = []
    if report["ram_budget"] is not None and mem["ram_bytes"] > report["ram_budget"]:
        over.append(("RAM", mem["ram_bytes"], report["ram_budget"]))
    if report["flash_budget"] is not None and mem["flash_bytes"] > report["flash_budget"]:
        over.append(("flash", mem["flash_bytes"], report["flash_budget"]))
    if over:
        why = "; ".join(f"{what} {need} B > budget {have} B (over by {need - have} B)"
                        for what, need, have in over)
        top = largest_consumers(mem, gen)
        raise BudgetError(f"model over budget: {why}; largest consumers: "
                          + ", ".join(f"{what} {n} B" for what, n in top[:3])
                          + " (--debug lists more)",
                          details=[f"{n:>9} B  {what}" for what, n in top])
    write_output(out_dir, gen, tg, report)
    return report


def macs_per_step(tg: Graph) -> int:
    from .ops.registry import get_op

    total = 0
    for n in tg.nodes:
        total += get_op(n.op).count_macs([tg.values[i] for i in n.inputs],
                                         [tg.values[o] for o in n.outputs], n.attrs)
    return int(total)


def makefile() -> str:
    """The host Makefile shipped in every output: the flags of targets/host.py, the one
    definition the tests and `mcutrain train` build with."""
    flags = " ".join(f for f in HOST_CFLAGS if not f.startswith("-O"))
    included = " ".join(f for f in FILES if f != "model.c")  # model.c #includes them
    return f"""# Builds the training step as a shared library for the host (mcutrain train builds the
# same sources with the same flags). `make CFLAGS=-O3` changes the optimization level only.
CC ?= cc
CFLAGS ?= -O2
CFLAGS += {flags} -Iruntime/include -I.
SRC = model.c $(wildcard runtime/src/*.c)

libmodel.so: $(SRC) {included}
\t$(CC) $(CFLAGS) -shared -o $@ $(SRC) -lm

clean:
\trm -f libmodel.so
"""


def write_output(out_dir, gen, tg: Graph, report: dict) -> Path:
    """The compile output folder, built complete under a temporary name, then put in place
    (outdir.output_dir: an earlier output is replaced only now, anything else was refused)."""
    from .ir.serialize import save_graph

    out = Path(out_dir).resolve()
    with output_dir(out, "compile") as tmp:
        for name, text in gen.files().items():
            (tmp / name).write_text(text)
        (tmp / "runtime" / "include").mkdir(parents=True)
        (tmp / "runtime" / "src").mkdir()
        for p in INCLUDE.glob("*.h"):
            shutil.copy2(p, tmp / "runtime" / "include" / p.name)
        for p in runtime_sources() + sorted(runtime_sources()[0].parent.glob("*.h")):
            shutil.copy2(p, tmp / "runtime" / "src" / p.name)
        (tmp / "Makefile").write_text(makefile())
        save_graph(tg, tmp / "train_graph.npz")
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=_json_default))
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o)}")
