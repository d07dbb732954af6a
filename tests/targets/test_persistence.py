"""Trained parameters persist in flash as two alternating slots (sequence number + CRC): they
survive an emulator restart, a power cut at any point of a write keeps the last complete copy,
and a corrupt slot is never loaded."""
from __future__ import annotations

import shutil
import time
import zlib

import pytest

from mcutrain.targets.qemu import (JOB_DUMP, JOB_LOAD, JOB_SAVE, newest_slot, random_samples,
                                   read_slots)

from .conftest import fresh_host, needs_qemu

pytestmark = needs_qemu
SAVE_DUMP = JOB_SAVE | JOB_DUMP


def load(r):
    """A fresh emulator start that only loads the flash and dumps what it loaded."""
    return r.run(r.job(flags=JOB_LOAD | JOB_DUMP), timeout=60)


def test_trained_parameters_survive_a_restart(runners, tiny_out, tmp_path):
    r = runners("cortex-m7")
    r.erase_flash()
    x, y = random_samples(r, 6, seed=7)
    a = r.run(r.job(train=(x[:5], y[:5]), flags=JOB_LOAD | SAVE_DUMP))
    assert a.header["loaded"] == "compiled"  # nothing valid in an erased flash
    assert [(s["seq"], s["done"]) for s in a.saves] == [(1, True)]
    slots = read_slots(r)
    assert [s["valid"] for s in slots] == [True, False] and slots[0]["payload"] == a.params
    b = load(r)
    assert b.header["loaded"] == "flash" and b.header["loaded_seq"] == 1
    assert b.params == a.params and b.end["step"] == 5
    # training resumed after the restart = training without one
    c = r.run(r.job(train=(x[5:], y[5:]), flags=JOB_LOAD | SAVE_DUMP))
    assert c.saves[0]["seq"] == 2 and newest_slot(r)["slot"] == 1
    cm = fresh_host(tiny_out, tmp_path)
    for i in range(6):
        cm.train_step(x[i], int(y[i]))
    assert cm.step == c.end["step"] == 6
    host = cm.get_params()
    dev = c.params_dict()
    for k in host:  # float32 head included: the same operations in the same order
        assert (dev[k] == host[k]).all(), k


def test_power_cut_at_any_point_of_a_write_keeps_the_last_complete_copy(runners):
    r = runners("cortex-m4")
    r.erase_flash()
    x, y = random_samples(r, 4, seed=9)
    first = r.run(r.job(train=(x[:2], y[:2]), flags=SAVE_DUMP))  # seq 1 in slot 0
    image1 = r.flash_image.read_bytes()
    new = r.run(r.job(train=(x[2:], y[2:]), flags=JOB_LOAD | SAVE_DUMP))  # seq 2 in slot 1
    assert new.params != first.params
    slot, payload = r.info["pstore_slot_bytes"], r.params_bytes
    total = slot + payload + 32  # bytes one save touches: erase, payload, header
    points = [1, 31, 32, 300, slot // 2, slot - 1, slot, slot + 1, slot + payload // 2,
              slot + payload - 1, slot + payload, slot + payload + 1, slot + payload + 4,
              slot + payload + 16, total - 4, total - 1]
    for k in points:
        r.flash_image.write_bytes(image1)
        cut = r.run(r.job(train=(x[2:], y[2:]), flags=JOB_LOAD | JOB_SAVE, cut_after=k),
                    check=False, timeout=60)
        assert cut.rc == 70 and "power cut" in cut.stdout, k
        assert cut.saves and not cut.saves[-1]["done"]
        after = load(r)
        assert after.header["loaded"] == "flash" and after.header["loaded_seq"] == 1, k
        assert after.params == first.params, k  # the last complete copy, never a mix
    # cut on the very last byte: the new copy is complete, and it wins
    r.flash_image.write_bytes(image1)
    cut = r.run(r.job(train=(x[2:], y[2:]), flags=JOB_LOAD | JOB_SAVE, cut_after=total),
                check=False, timeout=60)
    assert cut.rc == 70
    after = load(r)
    assert after.header["loaded_seq"] == 2 and after.params == new.params


def test_emulator_killed_during_training_loads_a_complete_copy(runners):
    """Kill QEMU (SIGKILL) while it trains and saves after every step: whatever the moment,
    the next start loads exactly one of the copies whose save began, with its own seq."""
    r = runners("cortex-m7")
    r.erase_flash()
    x, y = random_samples(r, 60, seed=11)
    job = r.job(train=(x, y), flags=JOB_LOAD | JOB_SAVE, save_every=1)
    announced = {}  # payload crc -> seq, over all runs
    early = completed = 0
    for k in (1, 2, 5, 9, 14):
        proc, run = r.start(job, timeout=60)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                data = (run / "out.bin").read_bytes() if (run / "out.bin").exists() else b""
                res = r.parse(data, job_flags(job))
                if len(res.saves) >= k:
                    break
            r.kill(proc)
            res = r.parse((run / "out.bin").read_bytes(), job_flags(job))
        finally:
            proc.stdout.close()
            shutil.rmtree(run, ignore_errors=True)
        early += len(res.train) < len(x)
        announced.update({s["crc"]: s["seq"] for s in res.saves})
        completed += sum(s["done"] for s in res.saves)
        after = load(r)
        if after.header["loaded"] == "compiled":  # killed during the very first save
            assert completed == 0
            continue
        crc = zlib.crc32(after.params)
        assert announced.get(crc) == after.header["loaded_seq"]
    assert early  # at least one kill landed while the device was still training
    assert completed  # and saves did complete


def job_flags(job: bytes) -> int:
    return int.from_bytes(job[12:16], "little")


def test_a_corrupt_slot_is_never_loaded(runners):
    r = runners("cortex-m4")
    r.erase_flash()
    x, y = random_samples(r, 4, seed=13)
    a = r.run(r.job(train=(x[:2], y[:2]), flags=SAVE_DUMP))  # seq 1, slot 0
    r.run(r.job(train=(x[2:], y[2:]), flags=JOB_LOAD | SAVE_DUMP))  # seq 2, slot 1
    slot = r.info["pstore_slot_bytes"]
    img = bytearray(r.flash_image.read_bytes())
    img[slot + 32 + r.params_bytes // 2] ^= 0x01  # one bit of slot 1's payload
    r.flash_image.write_bytes(bytes(img))
    assert [s["valid"] for s in read_slots(r)] == [True, False]
    after = load(r)
    assert after.header["loaded_seq"] == 1 and after.params == a.params
    img[4] ^= 0x80  # slot 0's seq: its header CRC fails
    r.flash_image.write_bytes(bytes(img))
    after = load(r)
    assert after.header["loaded"] == "compiled"


@pytest.mark.parametrize("seqs", [(0xFFFFFFFF, 1), (7, 8)])
def test_newest_slot_uses_serial_number_order(runners, seqs):
    """seq wraps: 1 is newer than 0xFFFFFFFF (host mirror of the device's choice)."""
    import struct

    r = runners("cortex-m4")
    r.erase_flash()
    slot, n = r.info["pstore_slot_bytes"], r.params_bytes
    img = bytearray(b"\xff" * (2 * slot))
    for s, seq in enumerate(seqs):
        payload = bytes([s + 1]) * n
        h = struct.pack("<7I", 0x5054434D, seq, r.info["model_hash"], n, seq,
                        zlib.crc32(payload), 0)
        img[s * slot:s * slot + 32 + n] = h + struct.pack("<I", zlib.crc32(h)) + payload
    r.flash_image.write_bytes(bytes(img))
    assert newest_slot(r)["slot"] == 1
    after = load(r)
    assert after.header["loaded_seq"] == seqs[1] and after.params == bytes([2]) * n
