"""Training steps per second on the host: our compiled C trainer against PyTorch eager.

For mbv2-w0.35, proxyless-w0.3 and mcunet-5fps (128x128, fresh 10-class head, the paper's
~100 KB sparse scheme from bench/schemes/, whole pass pipeline, int8 storage), batch 1:
  * C: the generated model.c + runtime built with -O3 -march=native (host.py always adds
    -ffp-contract=off), single-threaded, called through ctypes (CompiledModel.train_step);
  * PyTorch: bench/common.py's float32 baseline of the same graph doing the same sparse update
    (plain SGD), with torch.set_num_threads(1), and with 2 threads for context.
Side by side in one process on the same random inputs: `--warmup` steps, then `--steps`
steps timed, best of `--repeats` (the contenders alternate within each repeat); also in
process CPU time, which other processes on the cores disturb less. For context, the C step
compiled without the memory passes (TRAINING_PASSES); both C builds must give identical losses.

Also profiles each model's C training step with callgrind (a small C driver linking model.c
and the runtime, collecting only inside mct_train_step): the kernels the step calls with
their inclusive instruction counts, and the functions by self count.

Prints tables and writes bench/results/speed.json.
    python bench/speed.py [--models ...] [--steps 30] [--repeats 10] [--no-profile]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MAIN_SCHEME, MODELS, RESULTS, SHARED, TORCH_LR, TorchTrainer,  # noqa: E402
                    model_path, random_samples, scheme_file, source_state, write_json,
                    zoo_graph)

from mcutrain.compile import compile_model  # noqa: E402
from mcutrain.autodiff.prune import TRAINING_PASSES  # noqa: E402
from mcutrain.targets import host  # noqa: E402

CLASSES = 10
OPT = "-O3 -march=native"
DRIVER = r"""
/* bench driver: N training steps of the generated model on pseudo-random inputs. */
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

static int8_t x[MCT_INPUT_BYTES];

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  uint32_t s = 12345u;
  float loss = 0.0f;
  mct_init();
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < MCT_INPUT_BYTES; i++) {
      s = s * 1664525u + 1013904223u;
      x[i] = (int8_t)(s >> 24);
    }
    loss = mct_train_step(x, (int32_t)(k % MCT_NUM_CLASSES));
  }
  printf("%d steps, last loss %g, status %d\n", n, (double)loss, mct_status());
  return mct_status() != 0;
}
"""


# ---- building -------------------------------------------------------------------------------

def sources(out: Path) -> list:
    from mcutrain.targets.toolchain import output_sources

    return output_sources(out)


def build_c(out: Path):
    """CompiledModel built with OPT. A host.build_shared that passes `opt` to the compiler as
    ONE argument fails on "-O3 -march=native" ("argument to '-O' should be ..."); then build
    the library here with the flags split, and load it (CompiledModel skips an up-to-date
    library). Returns (model, how it was built)."""
    try:
        return host.CompiledModel(out, opt=OPT, rebuild=True), "CompiledModel(opt=OPT)"
    except host.BuildError as e:
        if "argument to" not in str(e) and "-O3 -march" not in str(e):
            raise
    opt, *extra = OPT.split()
    host.build_shared(sources(out), out / "libmodel.so",
                      include_dirs=[out / "runtime" / "include", out], opt=opt, extra_flags=extra)
    return host.CompiledModel(out), "build_shared(opt='-O3', extra_flags=['-march=native'])"


# ---- timing ---------------------------------------------------------------------------------

def timed(fn, xs, ys, start: int, n: int) -> tuple:
    """(wall seconds, process CPU seconds) of n steps. CPU time hardly moves when other
    processes share the cores (the wall time does): a check on single-threaded figures."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(start, start + n):
        fn(xs[i], int(ys[i]))
    return time.perf_counter() - t, time.process_time() - c


def bench_model(name: str, path: Path, tmp: Path, args) -> dict:
    import torch

    label = MAIN_SCHEME[name]
    scheme = str(scheme_file(name, label))
    out = tmp / name
    rep = compile_model(path, out, update=scheme, classes=CLASSES)
    t = time.perf_counter()
    cm, how = build_c(out)
    build_s = time.perf_counter() - t
    # context: the same step without the memory passes (layer by layer, out of place)
    compile_model(path, tmp / f"{name}-lbl", update=scheme, classes=CLASSES,
                  passes=TRAINING_PASSES)
    cm_lbl, _ = build_c(tmp / f"{name}-lbl")
    cm.lr = cm_lbl.lr = TORCH_LR  # lr 0.01 diverges on random data (losses in the hundreds)
    tr = TorchTrainer(zoo_graph(path, CLASSES), scheme, lr=TORCH_LR)
    n_total = args.warmup + args.repeats * args.steps
    xs, ys = random_samples(n_total, cm.input_hwc, CLASSES, seed=args.seed)

    # step 0 sanity: the same graph and head, int8 forward vs float forward
    lc, lt = cm.forward(xs[0]), tr.logits(xs[0])
    agree = dict(max_abs_logit_diff=float(np.abs(lc - lt).max()),
                 logit_scale=float(np.abs(lt).max()), same_top1=bool(lc.argmax() == lt.argmax()))

    contenders = {
        "c": lambda x, y: cm.train_step(x, y),
        "c_lbl": lambda x, y: cm_lbl.train_step(x, y),
        "torch1": lambda x, y: tr.step(x, y),
        "torch2": lambda x, y: tr.step(x, y),
    }
    threads = {"torch1": 1, "torch2": 2}
    losses = {k: [] for k in contenders}
    for k, fn in contenders.items():  # warm-up on the first inputs
        torch.set_num_threads(threads.get(k, 1))
        for i in range(args.warmup):
            losses[k].append(fn(xs[i], int(ys[i])))
    times = {k: [] for k in contenders}
    for r in range(args.repeats):
        start = args.warmup + r * args.steps
        for k, fn in contenders.items():
            torch.set_num_threads(threads.get(k, 1))
            times[k].append(timed(fn, xs, ys, start, args.steps))
        losses["c"].append(cm.train_step(xs[start], int(ys[start])))
        losses["c_lbl"].append(cm_lbl.train_step(xs[start], int(ys[start])))
        losses["torch1"].append(tr.step(xs[start], int(ys[start])))
    torch.set_num_threads(1)
    sps = {k: args.steps / min(w for w, _ in v) for k, v in times.items()}
    cpu_ms = {k: 1000 * min(c for _, c in v) / args.steps for k, v in times.items()}
    finite = all(np.isfinite(v) for vs in losses.values() for v in vs)
    return dict(model=name, scheme=label, ram_bytes=rep["ram_bytes"],
                macs_per_step=rep["macs_per_step"], c_build=how, c_build_s=round(build_s, 1),
                c_trained_values=sum(int(np.prod(p["shape"])) for p in rep["params"]),
                torch_trained_values=tr.n_effective, steps_per_s=sps,
                ms_per_step={k: 1000 / v for k, v in sps.items()},
                cpu_ms_per_step=cpu_ms, all_times_s=times,
                ratio_c_vs_torch1=sps["c"] / sps["torch1"],
                ratio_cpu_c_vs_torch1=cpu_ms["torch1"] / cpu_ms["c"],
                ratio_c_vs_torch2=sps["c"] / sps["torch2"], step0_forward=agree,
                losses_finite=finite, c_same_as_c_lbl=losses["c"] == losses["c_lbl"],
                last_losses={k: float(v[-1]) for k, v in losses.items()
                                                   if v})


# ---- profile --------------------------------------------------------------------------------

def build_driver(out: Path) -> Path:
    (out / "bench_driver.c").write_text(DRIVER)
    flags = [f for f in host.CFLAGS if not f.startswith("-O") and f != "-fPIC"]
    exe = out / "bench_driver"
    cmd = [host.cc(), *flags, *OPT.split(), "-g", f"-I{out / 'runtime' / 'include'}",
           f"-I{out}", "-o", str(exe), str(out / "bench_driver.c"), *map(str, sources(out)),
           "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise host.BuildError(f"driver build failed:\n{' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return exe


SUFFIX = re.compile(r"\.(isra|constprop|part|cold)\.\d+")
LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?):(\S+?)(?:\s+\[.*\])?\s*$")


def annotate(cg: Path, inclusive: bool) -> list:
    """[{ir, file, func}] from callgrind_annotate, one entry per function (lines inlined from
    headers such as avx2intrin.h count for the function they were inlined into)."""
    ann = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", str(cg)], capture_output=True, text=True,
                         check=True).stdout
    by_func: dict = {}
    for line in ann.splitlines():
        m = LINE.match(line)
        if m and not line.strip().startswith(("Ir", "--")) and "PROGRAM TOTALS" not in line:
            func = SUFFIX.sub("", m[3])
            f = by_func.setdefault(func, dict(ir=0, file="", func=func))
            if inclusive:  # an inlined-header row repeats the function's inclusive cost
                f["ir"] = max(f["ir"], int(m[1].replace(",", "")))
            else:
                f["ir"] += int(m[1].replace(",", ""))
            if m[2].endswith(".c"):
                f["file"] = Path(m[2]).name
    return list(by_func.values())


CALL = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+>\s+(\S.*?):(\S+?) \(([\d,]+)x\)")


def step_calls(cg: Path) -> list:
    """[{ir, calls, file, func}]: the functions mct_train_step calls, with their inclusive
    cost from those calls (callgrind_annotate --tree=calling). The runtime kernels, each
    counted once, including the helpers and kernels they call themselves."""
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--tree=calling",
                          "--threshold=100", str(cg)], capture_output=True, text=True,
                         check=True).stdout
    out, inside = {}, False
    for line in ann.splitlines():
        if re.match(r"^\s*[\d,]+\s+\(\s*[\d.]+%\)\s+\*\s", line):
            inside = line.rstrip().split(":")[-1].split()[0] == "mct_train_step"
            continue
        m = CALL.match(line) if inside else None
        if m:
            func = SUFFIX.sub("", m[3])
            f = out.setdefault(func, dict(ir=0, calls=0, file=Path(m[2]).name, func=func))
            f["ir"] += int(m[1].replace(",", ""))
            f["calls"] += int(m[4].replace(",", ""))
    return list(out.values())


def profile(name: str, path: Path, tmp: Path, steps: int) -> dict:
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        return dict(model=name, skipped="valgrind / callgrind_annotate not found")
    out = tmp / name
    if not (out / "model.c").exists():
        compile_model(path, out, update=str(scheme_file(name, MAIN_SCHEME[name])),
                      classes=CLASSES)
    exe = build_driver(out)
    cg = out / "callgrind.out"
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}",
                          "--toggle-collect=mct_train_step", str(exe), str(steps)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"callgrind failed:\n{run.stderr[-3000:]}")
    funcs = annotate(cg, inclusive=False)
    total = sum(f["ir"] for f in funcs)
    kernels = step_calls(cg)  # what the generated step calls, each with all it calls
    step_ir = sum(f["ir"] for f in kernels) or total
    for f in funcs:
        f["share"] = f["ir"] / total if total else 0.0
    for f in kernels:
        f["share"] = f["ir"] / step_ir if step_ir else 0.0
    funcs.sort(key=lambda f: -f["ir"])
    kernels.sort(key=lambda f: -f["ir"])
    return dict(model=name, steps=steps, flags=f"{OPT} -g -ffp-contract=off",
                instructions_per_step=step_ir // steps, kernels=kernels, functions=funcs[:25],
                driver_output=run.stdout.strip())


# ---- report ---------------------------------------------------------------------------------

def print_tables(rows: list, prof: list, args):
    print(f"\nTraining steps per second, batch 1, 128x128, {CLASSES}-class head, the ~100 KB scheme,"
          f" whole pipeline, int8\n(C: {OPT} -ffp-contract=off, 1 thread; torch float32 eager, "
          f"SGD; best of {args.repeats} x {args.steps} steps after {args.warmup} warm-up)")
    hdr = (f"{'model':15} {'scheme':6} {'C steps/s':>10} {'torch 1T':>9} {'torch 2T':>9} "
           f"{'C/torch1T':>10} {'C/torch2T':>10} {'C ms':>6} {'torch1T ms':>10} {'MMAC':>6} "
           f"{'C lbl ms':>9} {'CPU ratio':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        s, m = r["steps_per_s"], r["ms_per_step"]
        print(f"{r['model']:15} {r['scheme']:6} {s['c']:>10.1f} {s['torch1']:>9.1f} "
              f"{s['torch2']:>9.1f} {r['ratio_c_vs_torch1']:>9.2f}x {r['ratio_c_vs_torch2']:>9.2f}x "
              f"{m['c']:>6.2f} {m['torch1']:>10.2f} {r['macs_per_step'] / 1e6:>6.1f} "
              f"{m['c_lbl']:>9.2f} {r['ratio_cpu_c_vs_torch1']:>8.2f}x")
    print("C lbl = the same step compiled without the memory passes (passes=TRAINING_PASSES: "
          "layer by layer, out of place), for context;\nCPU ratio = torch 1T / C in process CPU "
          "time per step (best repeat): insensitive to other processes on the cores.")
    for r in rows:
        a = r["step0_forward"]
        print(f"  {r['model']}: step-0 logits C (int8) vs torch (float): max |diff| "
              f"{a['max_abs_logit_diff']:.3f} of {a['logit_scale']:.3f}, same top-1 "
              f"{a['same_top1']}; trained values C {r['c_trained_values']} / torch "
              f"{r['torch_trained_values']}; losses finite {r['losses_finite']}; C losses bit-identical "
              f"with and without the memory passes: {r['c_same_as_c_lbl']}")
    for p in prof:
        if "skipped" in p:
            print(f"\nprofile {p['model']}: skipped ({p['skipped']})")
            continue
        print(f"\nC training step profile, {p['model']} (callgrind, {p['flags']}): "
              f"{p['instructions_per_step'] / 1e6:.1f} M instructions per step")
        print(f"{'share':>6} {'M Ir/step':>10} {'calls':>6}  kernel called by the step, "
              f"inclusive (file)")
        for f in p["kernels"][:15]:
            print(f"{100 * f['share']:>5.1f}% {f['ir'] / p['steps'] / 1e6:>10.2f} "
                  f"{f['calls'] // p['steps']:>6}  {f['func']} ({f['file']})")
        print(f"{'share':>6} {'M Ir/step':>10}  function, self (file)")
        for f in p["functions"][:10]:
            print(f"{100 * f['share']:>5.1f}% {f['ir'] / p['steps'] / 1e6:>10.2f}  "
                  f"{f['func']} ({f['file']})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--profile-models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument("--profile-steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = ap.parse_args(argv)
    import torch

    load0, src = _loadavg(), source_state()
    rows, prof = [], []
    with tempfile.TemporaryDirectory(prefix="mct-bench-speed-") as tmp:
        tmp = Path(tmp)
        for name in args.models:
            path = model_path(name, args.shared)
            if path is None:
                continue
            rows.append(bench_model(name, path, tmp, args))
            r = rows[-1]
            print(f"  {name}: C {r['steps_per_s']['c']:.1f} steps/s, torch(1T) "
                  f"{r['steps_per_s']['torch1']:.1f}, torch(2T) {r['steps_per_s']['torch2']:.1f}",
                  flush=True)
        if not args.no_profile:
            for name in args.profile_models:
                path = model_path(name, args.shared)
                if path is not None:
                    prof.append(profile(name, path, tmp, args.profile_steps))
    print_tables(rows, prof, args)
    if not rows and not prof:
        print(f"no model measured: {args.out} left as it was")
        return
    after = source_state()
    if after["depends_hash"] != src["depends_hash"]:
        print(f"warning: the compiler or runtime sources changed during the run "
              f"({src} -> {after}); run again")
    write_json(args.out, dict(
        source=src, source_after=after, classes=CLASSES, opt=OPT,
        torch=torch.__version__, torch_lr=TORCH_LR,
        steps=args.steps, warmup=args.warmup, repeats=args.repeats,
        host=dict(machine=platform.machine(), processor=_cpu_name(), cpus=os.cpu_count(),
                  python=platform.python_version(), loadavg_before=load0,
                  loadavg_after=_loadavg()),
        rows=rows, profile=prof))
    print(f"wrote {args.out}")


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
