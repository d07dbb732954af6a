"""Where a device training step spends its instructions, block by block.

QEMU's translation-block log (-d in_asm,exec,nochain) streamed through a pipe: every block's
size (from its disassembly) times its executions gives exact instruction counts per basic
block, summed per function (addr2line). Counts include the start-up (timer calibration ~2.1 M);
totals are those of one training step on a random sample.

    python bench/hotspots.py mbv2-w0.35 [--scheme 99kb] [--cpu cortex-m7] [--top 40]
    python bench/hotspots.py --out OUT        # an existing compile output

The compile output goes to --base/<model> (default /tmp/mcutrain-hot/<model>, kept); the runtime sources are refreshed
from this checkout before every build, so an edited kernel is measured as it is now.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MAIN_SCHEME, model_path, scheme_file  # noqa: E402

from mcutrain.compile import compile_model  # noqa: E402
from mcutrain.targets.cortex_m import build_device, tool  # noqa: E402
from mcutrain.targets.host import runtime_sources  # noqa: E402
from mcutrain.targets.qemu import DeviceRunner, random_samples  # noqa: E402

TRACE = re.compile(r"\[[0-9a-f]+/([0-9a-f]+)/")


def refresh_runtime(out: Path) -> None:
    """The compile output's runtime/src replaced by this checkout's sources."""
    src = out / "runtime" / "src"
    for p in runtime_sources() + sorted(runtime_sources()[0].parent.glob("*.h")):
        shutil.copy2(p, src / p.name)


def block_counts(out: Path, cpu: str) -> tuple[dict, collections.Counter]:
    """(instructions per block start, executions per block start) of one training step."""
    r = DeviceRunner(out, cpu, force=False)
    x, y = random_samples(r, 1, seed=0)
    run = Path(tempfile.mkdtemp(prefix="hot-"))
    try:
        (run / "job.bin").write_bytes(r.job(train=(x, y), flags=0))
        fifo = run / "log"
        os.mkfifo(fifo)
        cmd = ["timeout", "-s", "KILL", "900", *r.command(False),
               "-d", "in_asm,exec,nochain", "-D", str(fifo)]
        p = subprocess.Popen(cmd, cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        size: dict = {}
        cnt: collections.Counter = collections.Counter()
        cur = None
        with open(fifo) as f:
            for line in f:
                if line.startswith("Trace"):
                    m = TRACE.search(line)
                    if m:
                        cnt[int(m.group(1), 16)] += 1
                elif line.startswith("IN:"):
                    cur = None
                elif line.startswith("0x"):
                    pc = int(line.split(":", 1)[0], 16)
                    if cur is None:
                        cur = pc
                        size[cur] = 0
                    size[cur] += 1
        p.wait()
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return size, cnt


def symbolize(elf: Path, pcs: list) -> dict:
    if not pcs:
        return {}
    res = subprocess.run([tool("arm-none-eabi-addr2line"), "-f", "-s", "-e", str(elf),
                          *map(hex, pcs)], capture_output=True, text=True).stdout.splitlines()
    return {pc: (res[2 * i], res[2 * i + 1]) for i, pc in enumerate(pcs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="mbv2-w0.35")
    ap.add_argument("--scheme", help="bench/schemes/<model>-<scheme>.json (default: the "
                                     "memory benchmark's)")
    ap.add_argument("--out", type=Path, help="an existing compile output instead")
    ap.add_argument("--cpu", default="cortex-m7")
    ap.add_argument("--portable", action="store_true", help="-DMCT_PORTABLE build")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--base", type=Path, default=Path(tempfile.gettempdir()) / "mcutrain-hot",
                    help="where compile outputs are kept (one per model)")
    args = ap.parse_args()
    out = args.out or args.base / args.model
    if args.out is None and not (out / "report.json").exists():
        scheme = scheme_file(args.model, args.scheme or MAIN_SCHEME[args.model])
        compile_model(model_path(args.model), out, update=str(scheme), classes=10,
                      ram="256KB", flash="1MB")
    refresh_runtime(out)
    build_device(out, args.cpu, portable=args.portable, force=True)
    size, cnt = block_counts(out, args.cpu)
    ins = {pc: c * size.get(pc, 0) for pc, c in cnt.items()}
    total = sum(ins.values())
    names = symbolize(out / args.cpu / "model.elf", sorted(ins))
    per_fn: collections.Counter = collections.Counter()
    for pc, n in ins.items():
        per_fn[names[pc][0]] += n
    print(f"{out}: {total / 1e6:.3f} M instructions (one step + start-up)")
    print("\nper function")
    for fn, n in per_fn.most_common(args.top):
        print(f"  {n / 1e6:8.3f} M  {100 * n / total:5.1f} %  {fn}")
    print("\nhottest blocks (start, instructions x executions)")
    for pc, n in sorted(ins.items(), key=lambda kv: -kv[1])[:args.top]:
        fn, line = names[pc]
        print(f"  {n / 1e6:8.3f} M  0x{pc:05x}  {size[pc]:3d} x {cnt[pc]:8d}  {fn}  {line}")


if __name__ == "__main__":
    main()
