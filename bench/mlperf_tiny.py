"""The four MLPerf Tiny models (../shared/models/mlperf_tiny/*.tflite) through mcutrain.

For each model:
  * import check: the compiled C's forward (predict's `output`) against TFLite Micro running
    the file, on random int8 inputs (and flower photos for the image models): outputs
    differing, of N;
  * ram_bytes of a training step: bias-only of the last layer, the last 2 layers, full;
  * instructions per training step on the Cortex-M7 in QEMU (-icount) with the step's
    MAC/2 (two int8 MACs a cycle: the compute limit) beside it, for the last 2 layers;
  * real-data adaptation: the VWW MobileNetV1 (96x96) and ResNet-8 (32x32) with a new 5-class
    head on ../shared/data/flowers5.npz: test accuracy before, after 3 epochs (host), and of
    the exported .tflite run by TFLite Micro;
  * the autoencoder: reconstruction error (--loss mse) on a synthetic shifted 'normal'
    distribution before and after adapting to it (no real machine sounds here).

    python bench/mlperf_tiny.py [--models ...] [--skip-device] [--skip-adapt]
Prints a table and writes bench/results/mlperf_tiny.json.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, write_json  # noqa: E402

MODELS = ("ic_resnet8_int8", "kws_dscnn_int8", "vww_mobilenetv1_int8", "ad_autoencoder_int8")
SCHEMES = (("bias-only:1", "bias of the last layer"), ("last:2", "last 2 layers"),
           ("full", "full"))
CPU, RAM = "cortex-m7", "256KB"
FLOWERS = SHARED / "data" / "flowers5.npz"
ADAPT = {"vww_mobilenetv1_int8": dict(update="last:6", lr=0.01),
         "ic_resnet8_int8": dict(update="last:4", lr=0.01)}


def model_file(name: str) -> Path:
    return SHARED / "models" / "mlperf_tiny" / f"{name}.tflite"


def run_tflm(data: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=max(len(data) * 10, 1 << 20))
    out = []
    for i in range(len(x)):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        out.append(it.get_output(0).reshape(-1).copy())
    return np.stack(out)


def c_outputs(out: Path, x_hwc: np.ndarray) -> np.ndarray:
    """predict's `output` of the compiled C (what TFLite Micro returns from the file)."""
    from mcutrain.targets.host import CompiledModel
    from mcutrain.train.predict import load_training_graph, outputs_from_logits

    cm = CompiledModel(out)
    logits = np.stack([cm.forward(x.reshape(cm.input_hwc)) for x in x_hwc])
    return outputs_from_logits(load_training_graph(out), logits)["output"].reshape(len(x_hwc), -1)


def import_check(name: str, tmp: Path) -> dict:
    from mcutrain.artifacts import input_hwc, input_q, read_report
    from mcutrain.compile import compile_model
    from mcutrain.data.datasets import load_dataset, to_int8_hwc

    out = tmp / f"{name}.none"
    compile_model(model_file(name), out, update="none")
    rep = read_report(out)
    shape = (24,) + tuple(input_hwc(rep))
    xs = [np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)]
    if name in ADAPT and FLOWERS.exists():
        xs.append(to_int8_hwc(load_dataset(FLOWERS, input_hwc(rep), input_q(rep))["x_test"][:24]))
    x = np.concatenate(xs)
    fshape = (len(x),) + tuple(_file_input_shape(name))
    want = run_tflm(model_file(name).read_bytes(), x.reshape(fshape)).reshape(len(x), -1)
    got = c_outputs(out, x)
    return dict(samples=int(len(x)), differing=int((got != want).any(axis=1).sum()),
                inputs="random int8" + (" + flowers5 test photos" if len(xs) > 1 else ""))


def _file_input_shape(name: str) -> tuple:
    """The file's input shape without the batch (NHWC: the C's HWC order, so a reshape)."""
    from mcutrain.frontend.tflite import load_tflite

    return tuple(load_tflite(model_file(name)).meta["tflite"]["input"]["shape"][1:])


def ram_rows(name: str, tmp: Path) -> list:
    from mcutrain.compile import compile_model

    rows = []
    for scheme, what in SCHEMES:
        rep = compile_model(model_file(name), tmp / f"{name}.{scheme}", update=scheme)
        rows.append(dict(scheme=scheme, what=what, ram_bytes=rep["ram_bytes"],
                         arena_bytes=rep["arena_bytes"], flash_bytes=rep["flash_bytes"],
                         macs_per_step=rep["macs_per_step"], loss=rep["loss"]))
    return rows


AUTO_BUDGETS = ("64KB", "80KB", "96KB", "128KB")


def auto_row(name: str, tmp: Path, n_train: int = 200) -> dict:
    """compile --update auto on flowers5 (its first n_train training photos, 5-class head) under
    64 KB, or the smallest of AUTO_BUDGETS under which a scheme fits (stated)."""
    from mcutrain.errors import McuError
    from mcutrain.sparse.plan import plan_and_compile

    d = np.load(FLOWERS)
    data = tmp / "flowers_small.npz"
    np.savez(data, x_train=d["x_train"][:n_train], y_train=d["y_train"][:n_train],
             x_test=d["x_test"], y_test=d["y_test"])
    tried = []
    for budget in AUTO_BUDGETS:
        try:
            rep = plan_and_compile(model_file(name), tmp / f"{name}.auto.{budget}", str(data),
                                   ram=budget, classes=5, plan_options=dict(
                                       seeds=1, folds=1, progress=False,
                                       echo=lambda *a, **k: None))
        except (McuError, ValueError) as e:  # ValueError: not even the head fits (analyze)
            tried.append(dict(budget=budget, refused=str(e)[:200]))
            continue
        return dict(budget=budget, ram_bytes=rep["ram_bytes"], scheme=rep["scheme"],
                    train_samples=n_train, not_fitting=tried,
                    measured_val_acc=rep["auto_update"].get("measured_val_acc"))
    return dict(budget=None, not_fitting=tried)


def device_row(name: str, tmp: Path, steps: int = 3) -> dict:
    """Instructions per step in QEMU for the last 2 layers (the linker's RAM within 256 KB)."""
    from mcutrain.targets.cortex_m import build_device, qemu_available

    if not qemu_available():
        return dict(skipped="qemu-system-arm not found")
    from mcutrain.compile import compile_model

    out = tmp / f"{name}.device"  # a small lr: random samples must not trip the divergence guard
    compile_model(model_file(name), out, update="last:2", lr=1e-5)
    dev = build_device(out, CPU, ram=RAM, measure=steps)
    from mcutrain.artifacts import read_report

    macs = read_report(out)["macs_per_step"]
    return dict(scheme="last:2", ram_used_bytes=dev["ram_used_bytes"],
                flash_used_bytes=dev["flash_used_bytes"],
                instructions_per_step=dev["instructions_per_step"], macs_per_step=macs,
                mac_limit_cycles=macs // 2,
                vs_mac_limit=round(dev["instructions_per_step"] / max(1, macs // 2), 2))


def adapt_row(name: str, tmp: Path, epochs: int = 3) -> dict:
    """A new 5-class head on flowers5: accuracy before, after `epochs` on the host, and of the
    exported .tflite run by TFLite Micro."""
    from mcutrain.artifacts import input_hwc, input_q, read_report
    from mcutrain.compile import compile_model
    from mcutrain.data.datasets import load_dataset, to_int8_hwc
    from mcutrain.export import export_tflite_file
    from mcutrain.train import eval_model, train_model

    cfg = ADAPT[name]
    out = tmp / f"{name}.flowers"
    rep = compile_model(model_file(name), out, update=cfg["update"], classes=5, lr=cfg["lr"])
    quiet = lambda *a, **k: None  # noqa: E731
    before = eval_model(out, FLOWERS, echo=quiet)["accuracy"]
    t = time.perf_counter()
    log = train_model(out, FLOWERS, epochs=epochs, progress=False, echo=quiet)
    secs = time.perf_counter() - t
    after = log["epochs"][-1]["test_acc"]
    dest = tmp / f"{name}.flowers.tflite"
    export_tflite_file(out, dest, FLOWERS)
    r = read_report(out)
    ds = load_dataset(FLOWERS, input_hwc(r), input_q(r))
    x = to_int8_hwc(ds["x_test"])
    probs = run_tflm(dest.read_bytes(), x.reshape((len(x),) + _file_input_shape(name)))
    exported = float(np.mean(probs.reshape(len(x), -1).argmax(1) == ds["y_test"]))
    return dict(update=cfg["update"], lr=cfg["lr"], epochs=epochs, ram_bytes=rep["ram_bytes"],
                train_samples=log["samples"], test_samples=int(len(x)), acc_before=before,
                acc_after=after, acc_exported_tflm=exported, host_seconds=round(secs, 1),
                epoch_losses=[e["loss"] for e in log["epochs"]])


def ae_data(path: Path, shift: float, n_train: int = 400, n_test: int = 100) -> None:
    """A synthetic 'normal' distribution in the autoencoder's input domain: 5 frames of a smooth
    128-bin profile plus noise, moved by `shift` (real values; the model quantizes them)."""
    rng = np.random.default_rng(1)
    prof = np.tile(np.sin(np.linspace(0, 6, 128)) * 3 - 20 + shift, 5)
    x = (prof + 0.5 * rng.standard_normal((n_train + n_test, 640))).astype(np.float32)
    np.savez(path, x_train=x[:n_train], x_test=x[n_train:])


def ae_row(tmp: Path, epochs: int = 3, update: str = "last:2", lr: float = 0.01) -> dict:
    from mcutrain.compile import compile_model
    from mcutrain.train import eval_model, train_model

    name = "ad_autoencoder_int8"
    data = tmp / "ae_shifted.npz"
    ae_data(data, shift=5.0)
    out = tmp / f"{name}.adapt"
    rep = compile_model(model_file(name), out, update=update, lr=lr)
    quiet = lambda *a, **k: None  # noqa: E731
    before = eval_model(out, data, echo=quiet)["reconstruction_error"]
    log = train_model(out, data, epochs=epochs, progress=False, echo=quiet)
    after = eval_model(out, data, echo=quiet)["reconstruction_error"]
    return dict(update=update, lr=lr, epochs=epochs, loss=rep["loss"], ram_bytes=rep["ram_bytes"],
                data="synthetic: smooth 640-vectors (5 x 128 bins) around one profile, shifted "
                     "by +5, noise 0.5", error_before=before, error_after=after,
                epoch_losses=[e["loss"] for e in log["epochs"]])


def print_table(res: dict) -> None:
    print(f"\n{'model':22} {'import':>9} {'bias:1 KB':>9} {'last:2 KB':>9} {'full KB':>8} "
          f"{'auto KB (budget)':>16} {'M instr/step':>12} {'MAC/2 M':>8} {'adaptation':>30}")
    for name, r in res["models"].items():
        ram = {row["scheme"]: row["ram_bytes"] / 1024 for row in r["ram"]}
        dev = r.get("device") or {}
        ins = f"{dev['instructions_per_step'] / 1e6:.2f}" if "instructions_per_step" in dev else "-"
        mac = f"{dev['mac_limit_cycles'] / 1e6:.2f}" if "mac_limit_cycles" in dev else "-"
        a = r.get("adapt") or {}
        if "acc_after" in a:
            ad = f"acc {a['acc_before']:.2f} -> {a['acc_after']:.2f} (tflm {a['acc_exported_tflm']:.2f})"
        elif "error_after" in a:
            ad = f"mse {a['error_before']:.3g} -> {a['error_after']:.3g}"
        else:
            ad = "-"
        imp, au = r["import"], r.get("auto") or {}
        auto = (f"{au['ram_bytes'] / 1024:.1f} ({au['budget']})" if au.get("budget")
                else "-")
        print(f"{name:22} {imp['differing']:>3} of {imp['samples']:<3} {ram['bias-only:1']:>9.1f} "
              f"{ram['last:2']:>9.1f} {ram['full']:>8.1f} {auto:>16} {ins:>12} {mac:>8} {ad:>30}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--skip-device", action="store_true")
    ap.add_argument("--skip-adapt", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args(argv)
    res = dict(cpu=CPU, ram_budget=RAM, models={})
    with tempfile.TemporaryDirectory(prefix="mct_mlperf_") as d:
        tmp = Path(d)
        for name in a.models:
            t = time.perf_counter()
            r = {"import": import_check(name, tmp), "ram": ram_rows(name, tmp)}
            if not a.skip_device:
                r["device"] = device_row(name, tmp)
            if not a.skip_adapt and name in ADAPT and FLOWERS.exists():
                r["auto"] = auto_row(name, tmp)
                r["adapt"] = adapt_row(name, tmp, a.epochs)
            elif not a.skip_adapt and name == "ad_autoencoder_int8":
                r["adapt"] = ae_row(tmp, a.epochs)
            r["seconds"] = round(time.perf_counter() - t, 1)
            res["models"][name] = r
            print(f"  {name}: done in {r['seconds']} s", flush=True)
            write_json(RESULTS / "mlperf_tiny.json", res)
    print_table(res)
    print(f"wrote {RESULTS / 'mlperf_tiny.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
