"""The kernels of .tflite graphs (mct_tflm.h) on the device: tests/targets/tflm_check.c runs each
on pseudo-random data in QEMU (the DSP paths compiled in: the _tflm entry points must not take
them) and on the host; both must write the same bytes. The host kernels equal the NumPy
reference (tests/c/test_tflm_kernels.py), so the device's do too."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcutrain.targets.host import INCLUDE, RUNTIME
from mcutrain.targets.toolchain import HOST_CFLAGS, cc

from .conftest import needs_qemu
from .test_dsp import build_and_run

pytestmark = needs_qemu
CHECK = Path(__file__).with_name("tflm_check.c")


def host_run(tmp: Path) -> bytes:
    d = tmp / "host"
    d.mkdir()
    srcs = [CHECK, *sorted((RUNTIME / "src").glob("*.c"))]
    cmd = [cc(), *(f for f in HOST_CFLAGS if f != "-fPIC"), "-DMCT_HOST_CHECK", f"-I{INCLUDE}",
           f"-I{RUNTIME / 'src'}", *map(str, srcs), "-o", "check", "-lm"]
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    run = subprocess.run(["./check"], cwd=d, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return (d / "out.bin").read_bytes()


def records(data: bytes) -> list:
    """tflm_check.c's records: (case, the kernel's status, its output bytes)."""
    out, off = [], 0
    while off < len(data):
        case, n, status = (int.from_bytes(data[off + k:off + k + 4], "little", signed=True)
                           for k in (0, 4, 8))
        out.append((case, status, data[off + 12:off + 12 + n]))
        off += 12 + n
    return out


@pytest.mark.parametrize("cpu,opt", [("cortex-m4", "-O2"), ("cortex-m7", "-Os")])
def test_tflm_kernels_on_device_equal_host(tmp_path, cpu, opt):
    host = records(host_run(tmp_path))
    dev = records(build_and_run(tmp_path, cpu, portable=False, opt=opt, check=CHECK))
    assert len(dev) == len(host) > 300
    assert all(s == 0 for _, s, _ in host), [c for c, s, _ in host if s][:10]
    bad = [c for (c, s, a), (_, t, b) in zip(dev, host) if a != b or s != t]
    assert not bad, f"device output differs from the host in records {bad[:10]}"
