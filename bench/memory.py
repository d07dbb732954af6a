"""Training-step RAM of the paper's three models, beside the paper's measured figures.

For mbv2-w0.35, proxyless-w0.3 and mcunet-5fps at 128x128 with a fresh 10-class head:
  * ram_bytes of the full update and of each of the paper's sparse schemes stored in
    bench/schemes/ (copied from ../shared/FACTS.md), compiled
      - layer by layer, no reordering: passes=TRAINING_PASSES (all gradients kept to the end)
      - with the whole pipeline (default passes), int8 storage
      - with the whole pipeline and fp32 storage (float masters of the trained values);
  * arena_bytes beside arena_lower_bound, and where ram_bytes goes: trained parameters,
    optimizer state, and the largest live set of the training step's plan split into saved
    activations (written in the forward, read in the backward) and working set; the peaks of
    the forward and backward working sets;
  * PyTorch's peak memory training the same model (float32 eager, batch 1, a few steps) in a
    child process: peak RSS minus the RSS after building the model and one forward.

Prints tables and writes bench/results/memory.json.
    python bench/memory.py [--models mcunet-5fps ...] [--no-torch] [--torch-steps 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MAIN_SCHEME, MODELS, RESULTS, SHARED, kb, model_path, scheme_file,  # noqa: E402
                    scheme_labels, source_state, torch_peak, write_json)

from mcutrain.compile import compile_model  # noqa: E402
from mcutrain.autodiff.prune import TRAINING_PASSES  # noqa: E402

CLASSES = 10
# The paper's measured training memory (KB) at 128x128 (its Figure: full update in PyTorch-style
# layer-by-layer execution, sparse update, sparse update + operator reordering).
PAPER_KB = {"mbv2-w0.35": dict(full=2939, sparse=335, reorder=141),
            "proxyless-w0.3": dict(full=2745, sparse=326, reorder=135),
            "mcunet-5fps": dict(full=3650, sparse=560, reorder=173)}
PAPER_TORCH = "PyTorch 303 MB vs 141 KB (paper, mbv2-w0.35)"


def configs(name: str) -> list:
    """(update label, scheme, passes label, passes, storage), in table order."""
    out = []
    for label in ["full"] + scheme_labels(name):
        scheme = "full" if label == "full" else str(scheme_file(name, label))
        out += [(label, scheme, "layer-by-layer", TRAINING_PASSES, "int8"),
                (label, scheme, "pipeline", None, "int8"),
                (label, scheme, "pipeline", None, "fp32")]
    return out


def paper_kb(name: str, label: str, passes: str, storage: str):
    if storage != "int8":
        return None
    p = PAPER_KB[name]
    if label == "full":
        return p["full"] if passes == "layer-by-layer" else None
    if label != MAIN_SCHEME[name]:
        return None
    return p["sparse"] if passes == "layer-by-layer" else p["reorder"]


# ---- where the arena goes -----------------------------------------------------------------

def live_split(fg, fwd_end: int) -> dict:
    """Per step of one function's plan: saved bytes (parts born by the end of the forward and
    read after it) and working bytes. A group (in-place chain) counts the extent of its parts
    alive at the step, as the planner's lower bound does."""
    steps: dict = {}
    for b in fg.plan.buffers:
        for t in range(b.first, b.last + 1):
            live = [(lo, hi, f <= fwd_end < l) for lo, hi, f, l in b.spans() if f <= t <= l]
            if not live:
                continue
            ext = max(h for _, h, _ in live) - min(lo for lo, _, _ in live)
            sv = [(lo, h) for lo, h, s in live if s]
            saved = min(ext, max(h for _, h in sv) - min(lo for lo, _ in sv)) if sv else 0
            acc = steps.setdefault(t, [0, 0, []])  # saved, working, parts
            acc[0] += saved
            acc[1] += ext - saved
            acc[2].append((b.name, ext, saved > 0, b.note))
    return steps


def live_members(fg, tg, root: str, t: int) -> list:
    """The values of buffer `root` (an in-place group holds several) alive at step t, as
    'name dtype[shape]'."""
    if root.startswith("scratch."):
        return [root]
    seen = {}
    for i, n in enumerate(fg.nodes):
        for v in list(n.inputs) + list(n.outputs):
            a, b = seen.get(v, (i, i))
            seen[v] = (min(a, i), max(b, i))
    out = []
    for v in fg.members.get(root, [root]):
        a, b = seen.get(v, (0, -1))
        if v == tg.meta["train"]["input"]:
            a = 0
        if a <= t <= b:
            val = tg.values[v]
            out.append(f"{v} {val.dtype}{list(val.shape)}")
    return out


def breakdown(out_dir: Path, report: dict) -> dict:
    """The largest live set of the training step and the forward/backward working-set peaks,
    from the plan itself (re-planned from the saved training graph)."""
    from mcutrain.ops.verify import load_graph
    from mcutrain.schedule.plan import plan_training

    tg = load_graph(out_dir / "train_graph.npz")
    mp = plan_training(tg)
    if mp.arena_bytes != report["arena_bytes"]:
        raise AssertionError(f"re-planned arena {mp.arena_bytes} != report "
                             f"{report['arena_bytes']}")
    fwd_end = max(i for i, n in enumerate(tg.nodes) if n.phase == "fwd")
    steps = live_split(mp.train, fwd_end)
    peak = max(steps, key=lambda t: steps[t][0] + steps[t][1])
    saved, working, parts = steps[peak]
    fwd = [steps[t][1] for t in steps if t <= fwd_end]
    bwd = [steps[t][1] for t in steps if t > fwd_end]
    node = tg.nodes[peak]
    return dict(
        train_arena_bytes=mp.train.plan.arena_bytes,
        train_lower_bound=mp.train.plan.lower_bound,
        forward_arena_bytes=mp.forward.plan.arena_bytes,
        forward_lower_bound=mp.forward.plan.lower_bound,
        peak_step=peak, peak_phase="forward" if peak <= fwd_end else "backward",
        peak_node=f"{node.op} -> %{node.outputs[0]}",
        peak_live_bytes=saved + working, peak_saved_bytes=saved, peak_working_bytes=working,
        saved_max_bytes=max(s for s, _, _ in steps.values()),
        forward_working_peak_bytes=max(fwd, default=0),
        backward_working_peak_bytes=max(bwd, default=0),
        peak_buffers=[dict(buffer=n, bytes=e, saved=s, live=live_members(mp.train, tg, n, peak))
                      for n, e, s, _ in sorted(parts, key=lambda p: -p[1])[:6]],
        forward_steps=fwd_end + 1, steps=len(tg.nodes))


def measure(name: str, path: Path, tmp: Path) -> list:
    rows = []
    for label, scheme, plabel, passes, storage in configs(name):
        out = tmp / f"{name}-{label}-{plabel}-{storage}"
        t = time.perf_counter()
        rep = compile_model(path, out, update=scheme, classes=CLASSES, storage=storage,
                            passes=passes)
        secs = time.perf_counter() - t
        row = dict(model=name, update=label, passes=plabel, storage=storage,
                   paper_kb=paper_kb(name, label, plabel, storage), compile_s=round(secs, 2))
        for k in ("ram_bytes", "arena_bytes", "arena_lower_bound", "params_ram_bytes",
                  "optimizer_state_bytes", "static_ram_bytes", "flash_bytes", "macs_per_step"):
            row[k] = rep[k]
        row["scheme"] = rep["scheme"]
        row["pass_names"] = rep["passes"]
        row.update(breakdown(out, rep))
        rows.append(row)
        print(f"  {name} {label:5} {plabel:14} {storage}: ram {kb(row['ram_bytes'])} KB "
              f"({secs:.1f} s)", flush=True)
    return rows


def print_tables(rows: list, torch_rows: list):
    print(f"\nTraining-step RAM, KB (1 KB = 1024 B), 128x128, {CLASSES}-class head, batch 1")
    hdr = (f"{'model':15} {'update':6} {'passes':14} {'store':5} {'ram':>7} {'paper':>6} "
           f"{'arena':>7} {'bound':>7} {'params':>7} {'opt':>5} {'peak@':>6} {'saved':>7} "
           f"{'work':>7} {'fwdWS':>7} {'bwdWS':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        paper = "-" if r["paper_kb"] is None else str(r["paper_kb"])
        print(f"{r['model']:15} {r['update']:6} {r['passes']:14} {r['storage']:5} "
              f"{kb(r['ram_bytes']):>7} {paper:>6} {kb(r['arena_bytes']):>7} "
              f"{kb(r['arena_lower_bound']):>7} {kb(r['params_ram_bytes']):>7} "
              f"{kb(r['optimizer_state_bytes']):>5} {r['peak_phase'][:3]:>3}{r['peak_step']:>3} "
              f"{kb(r['peak_saved_bytes']):>7} {kb(r['peak_working_bytes']):>7} "
              f"{kb(r['forward_working_peak_bytes']):>7} "
              f"{kb(r['backward_working_peak_bytes']):>7}")
    print("ram = arena + params + opt + static (logits copy, lr, step); bound = the plan's lower"
          " bound (largest live set);\npeak@ = phase and step of the largest live set of the "
          "training step, split into saved activations\n(forward -> backward) and working set; "
          "fwdWS / bwdWS = peak working set of the forward / backward.")
    if torch_rows:
        print(f"\nPyTorch float32 eager training, batch 1, 1 thread ({PAPER_TORCH})")
        hdr = (f"{'model':15} {'update':6} {'idle RSS MB':>11} {'peak RSS MB':>11} "
               f"{'train peak MB':>13} {'ours KB':>8} {'ratio':>7} {'peak/ours':>9}")
        print(hdr)
        print("-" * len(hdr))
        for t in torch_rows:
            print(f"{t['model']:15} {t['update']:6} {t['idle_rss_bytes'] / 2**20:>11.1f} "
                  f"{t['peak_rss_bytes'] / 2**20:>11.1f} {t['training_peak_bytes'] / 2**20:>13.1f} "
                  f"{kb(t['ours_ram_bytes']):>8} {t['ratio']:>7.0f} "
                  f"{t['peak_rss_bytes'] / t['ours_ram_bytes']:>9.0f}")
        print("train peak = peak RSS while training minus the RSS after building the model and "
              "one forward;\nours = our ~100 KB scheme, whole pipeline, int8 (ram_bytes); ratio = "
              "train peak / ours;\npeak/ours = the whole process's peak RSS / ours (the "
              "paper's 303 MB / 141 KB = 2150).")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peak memory")
    ap.add_argument("--torch-steps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = ap.parse_args(argv)
    src = source_state()
    rows, torch_rows = [], []
    with tempfile.TemporaryDirectory(prefix="mct-bench-mem-") as tmp:
        for name in args.models:
            path = model_path(name, args.shared)
            if path is None:
                continue
            rows += measure(name, path, Path(tmp))
            if args.no_torch:
                continue
            ours = next(r for r in rows if r["model"] == name and r["update"] == MAIN_SCHEME[name]
                        and r["passes"] == "pipeline" and r["storage"] == "int8")
            for label, scheme in (("full", "full"),
                                  (MAIN_SCHEME[name], str(scheme_file(name, MAIN_SCHEME[name])))):
                t = torch_peak(path, scheme, CLASSES, args.torch_steps)
                t.update(model=name, update=label, ours_ram_bytes=ours["ram_bytes"],
                         ratio=t["training_peak_bytes"] / ours["ram_bytes"])
                torch_rows.append(t)
                print(f"  {name} torch {label}: training peak "
                      f"{t['training_peak_bytes'] / 2**20:.1f} MB", flush=True)
    print_tables(rows, torch_rows)
    if not rows:
        print(f"no model measured: {args.out} left as it was")
        return
    after = source_state()
    if after["depends_hash"] != src["depends_hash"]:
        print(f"warning: the compiler or runtime sources changed during the run "
              f"({src} -> {after}); run again")
    write_json(args.out, dict(source=src, source_after=after, classes=CLASSES,
                              input="128x128x3 int8", paper_kb=PAPER_KB, paper_torch=PAPER_TORCH,
                              rows=rows, torch=torch_rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
