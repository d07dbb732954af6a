"""`mcutrain` command line. Every command is also a Python function with the same options."""
from __future__ import annotations

import argparse
import sys


def _cmd_demo(a) -> int:
    from .demo import run_demo

    scheme = None
    if a.scheme:
        from .sparse.select import parse_scheme  # noqa: F401  (validated when the graph is built)
        scheme = a.scheme
    run_demo(epochs=a.epochs, lr=a.lr, scheme=scheme, storage=a.storage, qas=not a.no_qas,
             seed=a.seed, progress=not a.quiet, json_path=a.json)
    return 0


def _cmd_show(a) -> int:
    """Print a model's int8 graph (zoo .pkl or a saved graph .npz), optionally as trained."""
    from .ir.printer import format_graph

    if a.model.endswith(".pkl"):
        from .frontend.zoo import load_zoo

        g = load_zoo(a.model)
    else:
        from .ir.serialize import load_graph

        g = load_graph(a.model)
    if a.update:
        from .autodiff import TrainConfig, make_training_graph

        g = make_training_graph(g, TrainConfig(scheme=a.update, storage=a.storage,
                                               classes=a.classes))
    print(format_graph(g))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcutrain", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="quantize the built-in digits CNN and adapt it on-device style")
    from .demo import DEFAULT_EPOCHS, DEFAULT_LR

    d.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    d.add_argument("--lr", type=float, default=DEFAULT_LR)
    d.add_argument("--scheme", help="update scheme (full, bias-only:K, last:K, JSON file)")
    d.add_argument("--storage", choices=["int8", "fp32"], default="int8")
    d.add_argument("--no-qas", action="store_true", help="turn quantization-aware scaling off")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", help="also write the results to this JSON file")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_demo)
    s = sub.add_parser("show", help="print a model's IR (and its training graph with --update)")
    s.add_argument("model", help="zoo .pkl file or saved graph .npz")
    s.add_argument("--update", help="update scheme: print the training graph")
    s.add_argument("--storage", choices=["int8", "fp32"], default="int8")
    s.add_argument("--classes", type=int, help="replace the classifier by a new N-class head")
    s.set_defaults(func=_cmd_show)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:
        print(f"mcutrain: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
