"""`mcutrain` command line. Every command is also a Python function with the same options.

Bad input gets one line on stderr naming the option or file and what is wrong, exit status 2
for a usage error (an option's value, a path) and 1 for a failure (a file's contents, a
budget, a build, a diverged run); `--debug` shows the traceback too. Numeric options are
range-checked here, where they are parsed.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys

from .errors import McuError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse with its error as one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, lo=None, hi=None, lo_open=False, hi_open=False):
    """An argparse type: `kind` (int or float) in [lo, hi] (open ends as given), finite."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo}, got {text}")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise argparse.ArgumentTypeError(f"must be {'<' if hi_open else '<='} {hi}, got {text}")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


POSITIVE_INT = _number(int, 1)
COUNT = _number(int, 0)  # 0 allowed
SEED = _number(int, 0, 2**31 - 1)
LR = _number(float, 0, lo_open=True)
MOMENTUM = _number(float, 0, 1, hi_open=True)
WEIGHT_DECAY = _number(float, 0, 1)
CLASSES = _number(int, 2, 1 << 16)  # a classifier needs two classes; a head beyond is absurd
FRACTION = _number(float, 0, 1, lo_open=True, hi_open=True)
PROMOTE = _number(float, 0, 1, lo_open=True)


def _memory(text: str) -> str:
    """A memory size (256KB, 1MB, 4096): checked here, passed on as typed."""
    from .units import parse_bytes

    try:
        n = parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if n <= 0 or n > 1 << 32:
        raise argparse.ArgumentTypeError(f"must be between 1 B and 4 GB, got {text!r}")
    return text


def _shape(text: str) -> tuple:
    """C,H,W (or C for a vector input): positive integers."""
    parts = text.split(",")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"\s*\d+\s*", p) for p in parts):
        raise argparse.ArgumentTypeError(f"expected C,H,W (positive integers), got {text!r}")
    dims = tuple(int(p) for p in parts)
    if min(dims) < 1 or max(dims) > 1 << 16:
        raise argparse.ArgumentTypeError(f"dimensions must be 1..65536, got {text!r}")
    return dims


def _opt_flag(text: str) -> str:
    if not re.fullmatch(r"-O[0-3sgz]|-Ofast", text):
        raise argparse.ArgumentTypeError(f"expected one of -O0 -O1 -O2 -O3 -Os -Og -Oz -Ofast, "
                                         f"got {text!r}")
    return text


def _runner_spec(text: str) -> str:
    if not re.fullmatch(r"serial|local|local:[1-9]\d*|ray|ray:\S+", text):
        raise argparse.ArgumentTypeError(f"expected serial, local, local:N, ray or ray:ADDRESS, "
                                         f"got {text!r}")
    return text


def _plan_lr(text: str):
    return text if text == "auto" else LR(text)


def _cmd_demo(a) -> int:
    from .demo import run_demo

    scheme = a.scheme or None  # validated when the training graph is built
    run_demo(epochs=a.epochs, lr=a.lr, scheme=scheme, storage=a.storage, qas=not a.no_qas,
             seed=a.seed, progress=not a.quiet, json_path=a.json)
    return 0


def _cmd_show(a) -> int:
    """Print a model's int8 graph (zoo .pkl or a saved graph .npz), optionally as trained."""
    from .compile import load_model
    from .ir.printer import format_graph

    g = load_model(a.model, allow_float=not a.update)
    if a.update:
        from .autodiff import TrainConfig, make_training_graph

        g = make_training_graph(g, TrainConfig(scheme=a.update, storage=a.storage,
                                               classes=a.classes))
    print(format_graph(g))
    return 0


def _cmd_compile(a) -> int:
    from .compile import compile_model

    data_x = None
    if a.data and a.model.split(":")[0].endswith(".py"):
        from .data.datasets import load_dataset

        data_x = load_dataset(a.data)["x_train"]
    common = dict(classes=a.classes, storage=a.storage, ram=a.ram, flash=a.flash, lr=a.lr,
                  momentum=a.momentum, weight_decay=a.weight_decay, qas=not a.no_qas,
                  seed=a.seed, data_x=data_x, input_shape=a.input_shape, loss=a.loss)
    if a.update == "auto":  # plan the scheme on --data first (mcutrain plan), then compile
        if not a.data or not a.ram:
            raise UsageError("--update auto needs --data (it fine-tunes on it) and a --ram "
                             "budget")
        from .sparse.plan import plan_and_compile

        opts = dict(out_dir=f"{a.out.rstrip('/')}.plan")
        opts.update({k: getattr(a, k) for k in ("seeds", "folds", "metric", "promote")
                     if getattr(a, k) is not None})
        r = plan_and_compile(a.model, a.out, a.data, plan_options=opts, **common)
    else:
        r = compile_model(a.model, a.out, update=a.update, **common)
    kb = lambda n: f"{n / 1024:.1f} KB"  # noqa: E731
    print(f"wrote {a.out}: ram {kb(r['ram_bytes'])} (arena {kb(r['arena_bytes'])}, lower bound "
          f"{kb(r['arena_lower_bound'])}; trained params {kb(r['params_ram_bytes'])}), "
          f"flash {kb(r['flash_bytes'])}, {r['macs_per_step'] / 1e6:.1f} M MACs per step")
    return 0


def _cmd_plan(a) -> int:
    """Contribution analysis + search: the sparse-update scheme that fits the budget."""
    from .sparse.contribution import Protocol
    from .sparse.plan import plan_scheme

    proto = Protocol(epochs=a.epochs, lr=None if a.lr == "auto" else a.lr, seed=a.seed,
                     qas=not a.no_qas, storage=a.storage)
    runner = a.runner if a.runner != "local" or not a.workers else f"local:{a.workers}"
    plan_scheme(a.model, a.data, ram=a.ram, flash=a.flash, classes=a.classes,
                out_dir=a.out or f"{a.model.rsplit('/', 1)[-1].split('.')[0]}-plan",
                runner=runner, cache_dir=a.cache, protocol=proto, method=a.method,
                val_fraction=a.val_fraction, progress=not a.quiet,
                drops=a.drops, **({} if a.rounds is None else dict(rounds=a.rounds)),
                **({} if a.seeds is None else dict(seeds=a.seeds)),
                **({} if a.folds is None else dict(folds=a.folds)),
                **({} if a.metric is None else dict(metric=a.metric)),
                **({} if a.promote is None else dict(promote=a.promote)))
    return 0


def _add_plan_parser(sub):
    p = sub.add_parser("plan", parents=[_common()], help="find the sparse-update scheme that fits a RAM budget and "
                                    "learns the most (contribution analysis + search)")
    p.add_argument("model", help='zoo .pkl, int8 .tflite, saved int8 graph .npz, file.py:factory, or "default"')
    p.add_argument("--data", required=True, help='.npz, image folder, or "default"')
    p.add_argument("--ram", required=True, type=_memory,
                   help="SRAM budget of the training step, e.g. 256KB")
    p.add_argument("--flash", type=_memory, help="flash budget, e.g. 1MB")
    p.add_argument("-o", "--out", help="output folder (scheme.json, plan.json, alternatives.md, "
                                       "plot.png; default MODEL-plan)")
    p.add_argument("--classes", type=CLASSES,
                   help="new float head of N classes (default: from the data)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=3, help="epochs of each fine-tuning run")
    p.add_argument("--lr", default="auto", type=_plan_lr, help="learning rate of the runs, or auto (a small "
                                                "sweep on the validation split)")
    p.add_argument("--storage", choices=["int8", "fp32"], default="int8")
    p.add_argument("--no-qas", action="store_true")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--seeds", type=POSITIVE_INT,
                   help="runs per setting: every accuracy the analysis and the selection use is "
                        "the mean over seeds SEED .. SEED+N-1 (default 2, sparse.plan.DEFAULT_SEEDS)")
    p.add_argument("--rounds", type=COUNT,
                   help="rounds of measured moves: weight options added to the chosen scheme "
                        "or dropped from it one at a time, trained, an addition kept when it "
                        "beats it by more than one validation image, a drop when it is not "
                        "worse (0: the search's candidates only; default 3, "
                        "sparse.plan.DEFAULT_ROUNDS)")
    p.add_argument("--drops", type=COUNT,
                   help="options of the scheme each round tries dropping, those with the "
                        "smallest measured gains (default 4; 0: additions only)")
    p.add_argument("--folds", type=POSITIVE_INT,
                   help="the candidates and combinations are compared by their accuracy over "
                        "N folds of x_train (fold 0 = the validation split; default 5, "
                        "sparse.plan.DEFAULT_FOLDS; 1: on the validation split alone)")
    p.add_argument("--metric", choices=["loss", "acc"],
                   help="what the contribution analysis measures gains in: the validation loss "
                        "(cross-entropy; default, finer) or accuracy")
    p.add_argument("--promote", type=PROMOTE,
                   help="racing over the seeds: after each seed, this share of the weight "
                        "options (and of the candidates) still in the race gets the next one "
                        "(default 1/3, sparse.plan.DEFAULT_PROMOTE; 1: every setting gets every seed)")
    p.add_argument("--val-fraction", type=FRACTION, default=0.2,
                   help="share of x_train held out to score the runs")
    p.add_argument("--method", choices=["auto", "exact", "evolutionary"], default="auto")
    p.add_argument("--runner", default="local", type=_runner_spec,
                   help="local (all cores), local:N, serial, ray (local Ray), ray:ADDRESS")
    p.add_argument("--workers", type=POSITIVE_INT, help="local worker processes (default: all cores)")
    p.add_argument("--cache", help="result cache (default ~/.cache/mcutrain/plan or $MCUTRAIN_CACHE)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_plan)


def _cmd_train(a) -> int:
    if a.target != "host":
        from .train import train_device

        train_device(a.out, a.data, target=a.target, epochs=a.epochs, lr=a.lr, seed=a.seed,
                     progress=not a.quiet)
        return 0
    from .train import train_model

    train_model(a.out, a.data, epochs=a.epochs, lr=a.lr, seed=a.seed, progress=not a.quiet)
    return 0


def _cmd_build(a) -> int:
    from .targets.cortex_m import build_device

    r = build_device(a.out, a.target, ram=a.ram, flash=a.flash, stack=a.stack, opt=a.opt,
                     portable=a.portable, force=a.force, measure=not a.no_measure)
    kb = lambda n: f"{n / 1024:.1f} KB"  # noqa: E731
    print(f"built {a.out}/{r['elf'].split('/')[0]}/model.elf for {r['cpu']} ({r['machine']}): "
          f"RAM {kb(r['ram_used_bytes'])} of {kb(r['ram_budget'])} (stack {kb(r['stack_bytes'])}), "
          f"flash {kb(r['flash_used_bytes'])} of {kb(r['flash_budget'])} (parameter store "
          f"{kb(r['pstore_bytes'])})")
    if "instructions_per_step" in r:
        print(f"QEMU: {r['instructions_per_step'] / 1e6:.2f} M instructions per training step, "
              f"{r['instructions_per_forward'] / 1e6:.2f} M per forward, stack high-water "
              f"{r['stack_high_water_bytes']} B")
    return 0


def _cmd_eval(a) -> int:
    from .train import eval_model

    eval_model(a.out, a.data)
    return 0


def _cmd_predict(a) -> int:
    from .train.predict import predict_model

    predict_model(a.out, a.data, a.output)
    return 0


def _cmd_export(a) -> int:
    if a.format == "params":
        from .export import export_params

        r = export_params(a.out, a.output)
        print(f"wrote {r['path']}: {r['bytes']} B (parameters {r['payload_bytes']} B, step "
              f"{r['step']}, model hash {r['model_hash']:08x})")
        return 0
    from .export import export_tflite_file

    r = export_tflite_file(a.out, a.output, a.data)
    what = f"trained to step {r['step']}" if r["trained"] else "untrained: no params.npz"
    print(f"wrote {r['path']}: {r['bytes']} B ({what})")
    return 0


def _add_predict_export(sub):
    p = sub.add_parser("predict", parents=[_common()], help="per-sample outputs of a (trained) "
                       "compiled model: output, logits, label (predictions.npz)")
    p.add_argument("out", help="compile output directory")
    p.add_argument("--data", required=True, help="its test split is run, or all of it when it "
                                                 "has none (.npz or image folder)")
    p.add_argument("-o", "--output", help="predictions file (default OUT/predictions.npz)")
    p.set_defaults(func=_cmd_predict)
    x = sub.add_parser("export", parents=[_common()], help="the trained model for other tools: "
                       "an int8 .tflite (TFLite Micro) or a parameter image (over the air)")
    x.add_argument("out", help="compile output directory")
    x.add_argument("--format", required=True, choices=["tflite", "params"],
                   help="tflite: the source .tflite with the trained weights written in; "
                        "params: the trained parameters as the device checkpoints them")
    x.add_argument("-o", "--output", required=True, help="file to write")
    x.add_argument("--data", help="tflite with a new head (--classes): the training data, to "
                                  "calibrate the head's output scale")
    x.set_defaults(func=_cmd_export)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mcutrain", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", metavar="command", required=True)
    d = sub.add_parser("demo", parents=[_common()], help="quantize the built-in digits CNN and adapt it on-device style")
    from .demo import DEFAULT_EPOCHS, DEFAULT_LR

    d.add_argument("--epochs", type=POSITIVE_INT, default=DEFAULT_EPOCHS)
    d.add_argument("--lr", type=LR, default=DEFAULT_LR)
    d.add_argument("--scheme", help="update scheme (full, bias-only:K, last:K, JSON file)")
    d.add_argument("--storage", choices=["int8", "fp32"], default="int8")
    d.add_argument("--no-qas", action="store_true", help="turn quantization-aware scaling off")
    d.add_argument("--seed", type=SEED, default=0)
    d.add_argument("--json", help="also write the results to this JSON file")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_demo)
    c = sub.add_parser("compile", parents=[_common()], help="compile a model's training step to C (OUT/ with report.json)")
    c.add_argument("model", help="zoo .pkl, int8 .tflite, saved int8 graph .npz, or path/to/file.py:factory")
    c.add_argument("-o", "--out", required=True, help="output directory (written atomically)")
    c.add_argument("--update", default="full",
                   help="full, none, bias-only:K, last:K, a JSON scheme file, or auto "
                        "(plan it on --data under --ram first, as `mcutrain plan` does)")
    c.add_argument("--classes", type=CLASSES, help="new float head of N classes")
    c.add_argument("--loss", choices=["ce", "mse"],
                   help="cross-entropy (classifiers) or the mean squared error of a "
                        "reconstruction of the input (default: mse when the model's output has "
                        "its input's size, as an autoencoder's, else ce)")
    c.add_argument("--storage", choices=["int8", "fp32"], default="int8",
                   help="trained weights stored int8 (stochastic rounding) or as fp32 masters")
    c.add_argument("--ram", type=_memory, help="SRAM budget, e.g. 256KB")
    c.add_argument("--flash", type=_memory, help="flash budget, e.g. 1MB")
    c.add_argument("--lr", type=LR, default=0.01, help="default learning rate")
    c.add_argument("--momentum", type=MOMENTUM, default=0.0, help="SGD momentum, in [0, 1)")
    c.add_argument("--weight-decay", type=WEIGHT_DECAY, default=0.0, help="in [0, 1]")
    c.add_argument("--no-qas", action="store_true", help="turn quantization-aware scaling off")
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--data", help="calibration data for a PyTorch model, and the data that "
                                  "--update auto plans on (.npz or image folder)")
    c.add_argument("--input-shape", type=_shape, help="C,H,W of a PyTorch model's input")
    c.add_argument("--seeds", type=POSITIVE_INT, help="--update auto: runs per setting of the plan, as "
                                             "`mcutrain plan --seeds` (default 2)")
    c.add_argument("--folds", type=POSITIVE_INT, help="--update auto: folds the plan compares its "
                                             "candidates on, as `mcutrain plan --folds` (default 5)")
    c.add_argument("--metric", choices=["loss", "acc"],
                   help="--update auto: gains measured in, as `mcutrain plan --metric` (default loss)")
    c.add_argument("--promote", type=PROMOTE, help="--update auto: racing over the seeds, as "
                                                 "`mcutrain plan --promote` (default 1/3)")
    c.set_defaults(func=_cmd_compile)
    _add_plan_parser(sub)
    t = sub.add_parser("train", parents=[_common()], help="train a compiled model on the host (the generated C)")
    t.add_argument("out", help="compile output directory")
    t.add_argument("--data", required=True, help=".npz (x_train, y_train[, x_test, y_test]) or image folder")
    t.add_argument("--epochs", type=POSITIVE_INT, default=1)
    t.add_argument("--lr", type=LR, help="learning rate (default: the compiled one)")
    t.add_argument("--seed", type=SEED, default=0, help="shuffling seed")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--target", choices=["host", "qemu-m4", "qemu-m7"], default="host",
                   help="host: the generated C built for this machine; qemu-m4/qemu-m7: the "
                        "Cortex-M build inside QEMU (mps2-an386 / mps2-an500)")
    t.set_defaults(func=_cmd_train)
    b = sub.add_parser("build", parents=[_common()], help="build a compiled model for a Cortex-M (ELF; the linker "
                                     "enforces the RAM and flash budgets)")
    b.add_argument("out", help="compile output directory")
    b.add_argument("--target", choices=["cortex-m4", "cortex-m7"], default="cortex-m4")
    b.add_argument("--ram", type=_memory, help="RAM budget (default: compile's --ram, else 256KB)")
    b.add_argument("--flash", type=_memory, help="flash budget (default: compile's --flash, else 1MB)")
    b.add_argument("--stack", type=_memory, help="stack reserved in RAM (default: what the build needs, computed from -fstack-usage and the call graph; a smaller value is refused)")
    b.add_argument("--opt", default="-O2", type=_opt_flag, help="optimization flag for arm-none-eabi-gcc")
    b.add_argument("--portable", action="store_true", help="pure C kernels (no DSP paths)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--no-measure", action="store_true",
                   help="do not run training steps in QEMU for instruction and stack figures")
    b.set_defaults(func=_cmd_build)
    e = sub.add_parser("eval", parents=[_common()], help="accuracy of a (trained) compiled model")
    e.add_argument("out")
    e.add_argument("--data", required=True)
    e.set_defaults(func=_cmd_eval)
    _add_predict_export(sub)
    s = sub.add_parser("show", parents=[_common()], help="print a model's IR (and its training graph with --update)")
    s.add_argument("model", help="zoo .pkl, int8 .tflite, saved graph .npz, or path/to/file.py:factory")
    s.add_argument("--update", help="update scheme: print the training graph")
    s.add_argument("--storage", choices=["int8", "fp32"], default="int8")
    s.add_argument("--classes", type=CLASSES, help="replace the classifier by a new N-class head")
    s.set_defaults(func=_cmd_show)
    return p


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    return p


def _report(e: BaseException) -> tuple[str | None, int]:
    """The message and exit status of an exception reaching the CLI."""
    if isinstance(e, BrokenPipeError):  # `mcutrain show ... | head`: the reader has enough
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return None, 141
    if isinstance(e, McuError):
        return f"error: {e}", e.exit_status
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(e, OSError):  # a file we could not open, read or write; a full disk
        where = f": {e.filename}" if e.filename else ""
        return f"error: {e.strerror or e}{where}", 1
    if isinstance(e, ImportError):  # an optional extra missing
        return f"error: {e}", 1
    if isinstance(e, MemoryError):
        return "error: out of memory (is the input much larger than expected?)", 1
    return (f"internal error: {type(e).__name__}: {e} (a bug in mcutrain; rerun with --debug "
            "for the traceback and report it)", 1)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return int(e.code or 0)
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as e:
        debug = getattr(args, "debug", False)
        if debug:
            import traceback

            traceback.print_exc()
        msg, status = _report(e)
        if msg:
            print(f"mcutrain: {msg}", file=sys.stderr)
        if debug and getattr(e, "details", None):
            print("\n".join(f"  {ln}" for ln in e.details), file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
