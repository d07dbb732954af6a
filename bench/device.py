"""The training step on the device: the paper's three models built for a Cortex-M7 with
256 KB of RAM and 1 MB of flash as linker regions, run in QEMU (mps2-an500).

For mbv2-w0.35, proxyless-w0.3 and mcunet-5fps at 128x128 with the ~100 KB scheme of the
memory benchmark and a fresh 10-class head:
  * RAM and flash as the linker placed them (the budgets are the memory regions: a model that
    did not fit would not link), the stack high-water mark (painted stack);
  * instructions per training step (QEMU -icount: one instruction = one virtual nanosecond,
    read through the CMSDK timer; median over a few steps on random samples), with the DSP
    kernels and with the portable C (-DMCT_PORTABLE), and per forward;
  * beside the paper's measured latency on a 216 MHz Cortex-M7 (373 / 443 / 546 ms, i.e.
    about 81 / 96 / 118 million cycles) and the step's MAC count / 2 (two int8 MACs per cycle
    with SMLAD: the compute limit);
  * where the instructions go: the largest kernels of a profiling build (--profile).
And the "minutes" claim: mcunet-5fps trained one epoch on ../shared/data/flowers5.npz inside
QEMU (5-class head), its device time at 216 MHz estimated as instructions / 216e6 (an
instruction per cycle), and its accuracy after that epoch.

    python bench/device.py [--models ...] [--steps 3] [--profile] [--no-flowers]
Prints tables and writes bench/results/device.json.

Off the paper's models: `--models resnet8-ir dscnn-ir` (bench/ir_models.py: MLPerf Tiny's
ResNet-8 with bias-only:6 and DS-CNN with bias-only:4, built in the IR with random int8
weights, their own classifiers) measure the same figures, and every row also gives the
forward's instructions against its MACs / 2.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MAIN_SCHEME, MODELS, RESULTS, SHARED, kb, model_path, scheme_file,  # noqa: E402
                    write_json)

from ir_models import IR_MODELS  # noqa: E402

from mcutrain.compile import compile_model, load_model, macs_per_step  # noqa: E402
from mcutrain.targets.cortex_m import build_device, qemu_available  # noqa: E402

CLASSES = 10
RAM, FLASH = "256KB", "1MB"
CPU = "cortex-m7"
PAPER_MS = {"mbv2-w0.35": 373, "proxyless-w0.3": 443, "mcunet-5fps": 546}  # 216 MHz Cortex-M7
PAPER_MHZ = 216
FLOWERS_LR = 0.003  # one epoch of the 99 KB scheme on flowers5 (host check: 0.003 > 0.01)


def paper_cycles(name: str) -> int | None:
    return int(PAPER_MS[name] * PAPER_MHZ * 1000) if name in PAPER_MS else None


def profile(out: Path, steps: int = 2) -> list:
    """(kernel, instructions per step, share) of a profiling build, largest first."""
    from mcutrain.targets.glue import profile_record
    from mcutrain.targets.qemu import DeviceRunner, random_samples

    r = DeviceRunner(out, CPU, profile=True, force=True)
    x, y = random_samples(r, steps, seed=0)
    res = r.run(r.job(train=(x, y), flags=0), timeout=900)
    total = sum(t["instructions"] for t in res.train) / steps
    by = {}
    for a, _, ins in res.profile:
        _, name = profile_record(a, r.info["profile_kernels"])
        by[name] = by.get(name, 0) + ins / steps
    build_device(out, CPU, force=True)  # back to the plain build
    return [dict(kernel=k, instructions=int(v), share=round(v / total, 3))
            for k, v in sorted(by.items(), key=lambda kv: -kv[1])]


def measure(name: str, path: Path | None, tmp: Path, steps: int, with_profile: bool) -> dict:
    out = tmp / name
    t = time.perf_counter()
    if name in IR_MODELS:
        build, scheme, classes = IR_MODELS[name]
        model, classes_arg = build(), None
    else:
        model, scheme, classes, classes_arg = path, MAIN_SCHEME[name], CLASSES, CLASSES
    fwd_macs = macs_per_step(model if name in IR_MODELS else load_model(path))
    rep = compile_model(model, out, update=scheme if name in IR_MODELS else
                        str(scheme_file(name, scheme)), classes=classes_arg, ram=RAM, flash=FLASH)
    portable = build_device(out, CPU, portable=True, measure=steps)
    dev = build_device(out, CPU, measure=steps)
    row = dict(model=name, scheme=scheme, classes=classes, cpu=CPU, machine=dev["machine"],
               ram_budget=dev["ram_budget"], flash_budget=dev["flash_budget"],
               ram_used_bytes=dev["ram_used_bytes"], flash_used_bytes=dev["flash_used_bytes"],
               ram_breakdown=dev["ram_breakdown"], sections=dev["sections"],
               stack_bytes=dev["stack_bytes"], stack_high_water_bytes=dev["stack_high_water_bytes"],
               compile_ram_bytes=rep["ram_bytes"], compile_flash_bytes=rep["flash_bytes"],
               instructions_per_step=dev["instructions_per_step"],
               instructions_per_step_all=dev["instructions_per_step_all"],
               instructions_per_forward=dev["instructions_per_forward"],
               portable_instructions_per_step=portable["instructions_per_step"],
               macs_per_step=rep["macs_per_step"], mac_limit_cycles=rep["macs_per_step"] // 2,
               forward_macs=fwd_macs, forward_mac_limit_cycles=fwd_macs // 2,
               paper_ms=PAPER_MS.get(name), paper_cycles=paper_cycles(name),
               fits=dev["ram_used_bytes"] <= dev["ram_budget"] and
               dev["flash_used_bytes"] <= dev["flash_budget"])
    row["vs_paper"] = (round(row["instructions_per_step"] / row["paper_cycles"], 3)
                       if row["paper_cycles"] else None)
    row["forward_vs_mac_limit"] = round(row["instructions_per_forward"] /
                                        row["forward_mac_limit_cycles"], 2)
    row["vs_mac_limit"] = round(row["instructions_per_step"] / row["mac_limit_cycles"], 2)
    row["dsp_speedup"] = round(row["portable_instructions_per_step"] /
                               row["instructions_per_step"], 2)
    row["ms_at_216mhz_if_1ipc"] = round(row["instructions_per_step"] / PAPER_MHZ / 1000, 1)
    if with_profile:
        row["profile"] = profile(out)
    row["seconds"] = round(time.perf_counter() - t, 1)
    print(f"  {name}: {row['instructions_per_step'] / 1e6:.1f} M instructions/step "
          f"({row['seconds']} s)", flush=True)
    return row


def flowers(tmp: Path, shared: Path, lr: float) -> dict | None:
    """mcunet-5fps, 99 KB scheme, 5-class head: one epoch on flowers5 inside QEMU."""
    data = shared / "data" / "flowers5.npz"
    path = model_path("mcunet-5fps", shared)
    if not data.exists() or path is None:
        print(f"skip flowers: {data} or the model is absent")
        return None
    from mcutrain.train import train_device

    out = tmp / "flowers"
    compile_model(path, out, update=str(scheme_file("mcunet-5fps", MAIN_SCHEME["mcunet-5fps"])),
                  classes=5, lr=lr, ram=RAM, flash=FLASH)
    t = time.perf_counter()
    log = train_device(out, data, target="qemu-m7", epochs=1, lr=lr, progress=False)
    ep = log["epochs"][0]
    return dict(model="mcunet-5fps", scheme=MAIN_SCHEME["mcunet-5fps"], data=str(data),
                classes=5, lr=lr, train_samples=log["samples"], test_acc=ep["test_acc"],
                train_acc=ep["train_acc"], loss=ep["loss"],
                instructions_per_step=ep["instructions_per_step"],
                device_seconds_216mhz_estimate=ep["device_seconds_216mhz"],
                qemu_seconds=round(time.perf_counter() - t, 1),
                note="device time = sum of the epoch's instructions / 216e6 (one instruction "
                     "per cycle: an estimate; the M7 is dual-issue, flash wait states are not "
                     "modelled)")


def print_tables(rows: list, fl: dict | None):
    print(f"\nTraining step on a Cortex-M7 (QEMU {rows[0]['machine'] if rows else ''}), the "
          f"paper's models at 128x128 with a {CLASSES}-class head, RAM {RAM} / flash {FLASH} as "
          f"linker regions")
    hdr = (f"{'model':15} {'scheme':11} {'RAM KB':>7} {'flash KB':>8} {'stack':>6} "
           f"{'M instr':>8} {'portable':>8} {'paper Mcyc':>10} {'ratio':>6} {'MAC/2 M':>8} "
           f"{'ratio':>6} {'fwd M':>6} {'fMAC/2':>6} {'ratio':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        paper = (f"{r['paper_cycles'] / 1e6:>10.1f} {r['vs_paper']:>6.2f}"
                 if r["paper_cycles"] else f"{'-':>10} {'-':>6}")
        print(f"{r['model']:15} {r['scheme']:11} {kb(r['ram_used_bytes']):>7} "
              f"{kb(r['flash_used_bytes']):>8} {r['stack_high_water_bytes']:>6} "
              f"{r['instructions_per_step'] / 1e6:>8.1f} "
              f"{r['portable_instructions_per_step'] / 1e6:>8.1f} "
              f"{paper} {r['mac_limit_cycles'] / 1e6:>8.1f} {r['vs_mac_limit']:>6.2f} "
              f"{r['instructions_per_forward'] / 1e6:>6.1f} "
              f"{r['forward_mac_limit_cycles'] / 1e6:>6.2f} {r['forward_vs_mac_limit']:>6.2f}")
    print("RAM / flash: the linker's figures (stack, .data and .bss / code, constants, .data "
          "image and the\n2-slot parameter store); stack: high-water bytes of the painted stack; "
          "M instr: instructions per training\nstep with the DSP kernels, portable: with "
          "-DMCT_PORTABLE; paper Mcyc: its measured latency x 216 MHz;\nratio: ours / that; "
          "MAC/2: the step's MACs / 2 (SMLAD compute limit); fwd: instructions per forward,\n"
          "fMAC/2: the forward's MACs / 2, ratio: fwd / that.")
    for r in rows:
        if r.get("profile"):
            top = ", ".join(f"{p['kernel'][4:]} {p['instructions'] / 1e6:.1f}M"
                            for p in r["profile"][:6])
            print(f"  {r['model']}: {top}")
    if fl:
        print(f"\nmcunet-5fps, one epoch on flowers5 ({fl['train_samples']} samples, 5 classes, "
              f"lr {fl['lr']}) inside QEMU: test accuracy {fl['test_acc']:.3f}, "
              f"{fl['instructions_per_step'] / 1e6:.1f} M instructions/step, about "
              f"{fl['device_seconds_216mhz_estimate'] / 60:.1f} minutes at 216 MHz (estimate: "
              f"one instruction per cycle); {fl['qemu_seconds']} s in QEMU")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--models", nargs="*", default=list(MODELS),
                    choices=list(MODELS) + list(IR_MODELS))
    ap.add_argument("--steps", type=int, default=3, help="training steps measured per model")
    ap.add_argument("--profile", action="store_true", help="also a per-kernel profile")
    ap.add_argument("--no-flowers", action="store_true", help="skip the flowers5 epoch")
    ap.add_argument("--flowers-lr", type=float, default=FLOWERS_LR)
    ap.add_argument("--out", type=Path, default=RESULTS / "device.json")
    args = ap.parse_args(argv)
    if not qemu_available():
        print("skip: arm-none-eabi-gcc / qemu-system-arm not installed")
        return 0
    rows, fl = [], None
    with tempfile.TemporaryDirectory(prefix="mct-bench-dev-") as tmp:
        for name in args.models:
            path = None if name in IR_MODELS else model_path(name, args.shared)
            if path is not None or name in IR_MODELS:
                rows.append(measure(name, path, Path(tmp), args.steps, args.profile))
        if not args.no_flowers:
            fl = flowers(Path(tmp), args.shared, args.flowers_lr)
    print_tables(rows, fl)
    write_json(args.out, dict(cpu=CPU, ram=RAM, flash=FLASH, classes=CLASSES,
                              paper_ms=PAPER_MS, paper_mhz=PAPER_MHZ, rows=rows, flowers=fl))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
