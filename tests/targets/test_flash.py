"""flash_bytes in report.json is what the linker places in flash (measured at compile time with
the Arm toolchain; else a stated estimate whose error is measured here), and every on-disk
cache misses after an edit of the sources it depends on."""
from __future__ import annotations

import json
import shutil

import pytest

from mcutrain.compile import build_training_graph, compile_model, kernel_calls, memory_report
from mcutrain.targets import fingerprint, flash, toolchain
from mcutrain.targets.cortex_m import build_device

from ..conftest import shared_path, tiny_int8_model
from .conftest import compile_tiny, needs_toolchain

SCHEME_100KB = {"bias_last": 23, "weights": {"21": 1, "24": 1, "27": 1, "30": 1, "36": 0.125,
                                             "39": 0.25, "42": 1}}


@needs_toolchain
def test_flash_bytes_is_the_linkers_figure(tmp_path):
    out = tmp_path / "out"
    rep = compile_tiny(out, flash="1MB")
    assert rep["flash_source"] == "linker" and rep["flash_detail"]["cpu"] == flash.MEASURE_CPU
    for cpu in ("cortex-m4", "cortex-m7"):
        used = build_device(out, cpu)["flash_used_bytes"]
        if cpu == flash.MEASURE_CPU:
            assert rep["flash_bytes"] == used  # the same objects, linked the same way
        assert abs(rep["flash_bytes"] - used) <= 0.10 * used, cpu
    # the compile output holds nothing of the measurement
    assert not list(out.glob("*.o")) and not (out / "obj").exists()


@needs_toolchain
def test_flash_budget_is_checked_with_the_measured_figure(tmp_path):
    from mcutrain.compile import BudgetError

    rep = compile_tiny(tmp_path / "a")
    with pytest.raises(BudgetError, match="flash"):
        compile_tiny(tmp_path / "b", flash=rep["flash_bytes"] - 1)
    assert not (tmp_path / "b").exists()


def test_without_toolchain_the_estimate_is_stated(tmp_path, monkeypatch):
    monkeypatch.setattr(flash, "arm_available", lambda: False)
    rep = compile_tiny(tmp_path / "out")
    assert rep["flash_source"] == "estimate" and rep["flash_error"] == flash.ESTIMATE_ERROR
    d = rep["flash_detail"]
    assert rep["flash_bytes"] == d["code_bytes_estimate"] + d["data_bytes"] + d["pstore_bytes"]


def _estimate_error(tmp_path, model, update, classes):
    from mcutrain.autodiff import TrainConfig
    from mcutrain.codegen.model import generate
    from mcutrain.compile import load_model
    from mcutrain.schedule.plan import plan_training

    rep = compile_model(model, tmp_path / "out", update=update, classes=classes)
    assert rep["flash_source"] == "linker"
    tg = build_training_graph(load_model(model), TrainConfig(scheme=update, classes=classes))
    mp = plan_training(tg)
    gen = generate(tg, mp)
    est = memory_report(mp, gen)
    assert est["flash_source"] == "estimate" and kernel_calls(gen) > 0
    return abs(est["flash_bytes"] - rep["flash_bytes"]) / rep["flash_bytes"]


@needs_toolchain
def test_estimate_error_on_the_tiny_model(tmp_path):
    assert _estimate_error(tmp_path, tiny_int8_model(hw=12), "last:3", 3) <= flash.ESTIMATE_ERROR


@needs_toolchain
@pytest.mark.shared
def test_estimate_error_on_mcunet_100kb(tmp_path):
    model = shared_path("models", "mcunet-5fps.pkl")
    assert _estimate_error(tmp_path, model, SCHEME_100KB, 5) <= flash.ESTIMATE_ERROR


# ---- caches keyed by content ----------------------------------------------------------------

def _edited_package(tmp_path):
    """A copy of the package's sources with one runtime kernel edited (a comment)."""
    root = tmp_path / "pkg"
    shutil.copytree(fingerprint.PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    src = root / "runtime" / "src" / "pool.c"
    src.write_text(src.read_text() + "\n/* edited */\n")
    return root


def test_code_hashes_follow_the_sources(tmp_path, monkeypatch):
    from mcutrain.sparse.jobs import feature_path

    before = (fingerprint.runtime_hash(), fingerprint.code_hash(),
              toolchain.host_runtime_key(), feature_path(tmp_path, 3))
    assert fingerprint.code_hash() == before[1]  # once per process: the same value
    monkeypatch.setattr(fingerprint, "PACKAGE", _edited_package(tmp_path))
    after = (fingerprint.runtime_hash(), fingerprint.code_hash(),
             toolchain.host_runtime_key(), feature_path(tmp_path, 3))
    assert all(a != b for a, b in zip(before, after))
    monkeypatch.setattr(fingerprint, "package_version", lambda: "99.0")
    fingerprint._hash.cache_clear()
    assert fingerprint.code_hash() != after[1]
    fingerprint._hash.cache_clear()


def test_host_runtime_library_misses_after_a_runtime_edit(tmp_path, monkeypatch):
    from mcutrain.targets.host import runtime_library

    cache = tmp_path / "cache"
    runtime_library(cache)
    first = sorted(p.name for p in cache.glob("libmct-*.so"))
    runtime_library(cache)  # a hit: nothing new
    assert sorted(p.name for p in cache.glob("libmct-*.so")) == first
    monkeypatch.setattr(fingerprint, "PACKAGE", _edited_package(tmp_path))
    runtime_library(cache)
    assert len(list(cache.glob("libmct-*.so"))) == 2


def test_plan_cache_keys_carry_the_code_hash(tmp_path, monkeypatch):
    """The planner's memory and run results are keyed with the code hash: an edit misses."""
    from mcutrain.sparse.contribution import Engine, prepare_task
    from mcutrain.sparse.plan import ResultStore

    seen = []

    class Store(ResultStore):
        def get(self, kind, key):
            seen.append(key)
            return {"ram_bytes": 1}  # a hit: nothing runs

    import numpy as np
    data = dict(x_train=np.zeros((6, 12, 12, 3), np.uint8), y_train=np.arange(6) % 3)
    task = prepare_task(tiny_int8_model(hw=12), data, tmp_path / "plan", classes=3)
    eng = Engine(task, Store(task.dir), runner=None, progress=False)
    eng.memory(["none"])
    monkeypatch.setattr(fingerprint, "PACKAGE", _edited_package(tmp_path))
    eng.memory(["none"])
    assert len(seen) == 2 and seen[0] != seen[1]
    assert f"code={fingerprint.code_hash()}" in seen[1]


@needs_toolchain
def test_device_object_cache_misses_after_a_runtime_edit(tmp_path, monkeypatch):
    from mcutrain.targets.cortex_m import CPUS, layout, write_build_files

    out = tmp_path / "out"
    compile_tiny(out)
    rep = json.loads((out / "report.json").read_text())
    monkeypatch.setenv("MCT_ARM_CACHE", str(tmp_path / "objs"))
    flags = toolchain.device_flags(CPUS["cortex-m4"])

    def build(name):
        bdir = tmp_path / name
        write_build_files(out, bdir, CPUS["cortex-m4"], layout(rep), rep, flags)
        toolchain.device_objects(out, bdir, flags)
        return {p.name for p in (tmp_path / "objs").glob("pool-*.o")}

    first = build("b1")
    assert build("b2") == first and len(first) == 1  # a hit
    src = out / "runtime" / "src" / "pool.c"
    src.write_text(src.read_text() + "\n/* edited */\n")
    assert len(build("b3")) == 2  # a miss: a new object


def test_a_failed_measurement_falls_back_to_the_estimate(tmp_path, monkeypatch):
    """The device link is a measurement: if it fails the output still serves the host, with
    the estimate and the reason in flash_note."""
    def fail(out, report):
        raise toolchain.DeviceBuildError("device build failed:\ncmd\nx.c:1: error: boom")

    monkeypatch.setattr(flash, "arm_available", lambda: True)
    monkeypatch.setattr(flash, "measure", fail)
    rep = compile_tiny(tmp_path / "out")
    assert rep["flash_source"] == "estimate" and "error: boom" in rep["flash_note"]


@needs_toolchain
def test_device_build_stamp_follows_the_code(tmp_path, monkeypatch):
    """A device build is reused until its sources or mcutrain's code change."""
    out = tmp_path / "out"
    compile_tiny(out)
    build_device(out, "cortex-m4")
    elf = out / "cortex-m4" / "model.elf"
    first = elf.stat().st_mtime_ns
    build_device(out, "cortex-m4")
    assert elf.stat().st_mtime_ns == first  # a hit
    monkeypatch.setattr(fingerprint, "PACKAGE", _edited_package(tmp_path))
    build_device(out, "cortex-m4")
    assert elf.stat().st_mtime_ns != first  # rebuilt
