"""Accuracy and exactness of the int8 zoo graphs (mcutrain.frontend.zoo) on real photos.

For each model in ../shared/models:
  * daisy rate: ImageNet class 985 top-1 / top-5 on the 243 daisy photos of
    ../shared/data/flowers5.npz (train + test), for our integer graph (eff rounded to float32,
    the default; and eff kept in float64), for the independent float-eff reference on the same
    int8 input (pixel - 128), and for the reference on the original pipeline's input
    round(pixel - 127.5), which reproduces the README's figures;
  * exactness: on the first 8 photos of x_test, how many int8 outputs (all layers; logits)
    differ between the float-eff reference and the integer graph, and the largest difference;
    `local_differ` counts the outputs where one node, fed the reference's own inputs, disagrees
    (rounding decisions before they cascade).

Prints a table and writes bench/results/zoo_accuracy.json.
    python bench/zoo_accuracy.py [--shared ../shared] [--out bench/results/zoo_accuracy.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mcutrain.frontend.zoo import (graph_logits, images_to_input, load_zoo_dict, topk,
                                   zoo_reference_forward, zoo_to_graph)
from mcutrain.ops.registry import get_op
from mcutrain.ref.interp import run

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3")
DAISY = 985
CHUNK = 16


def rates(logits, scores):
    best = topk(logits, scores, k=5)
    return dict(top1=float(np.mean(best[:, 0] == DAISY)),
                top5=float(np.mean((best == DAISY).any(axis=1))))


def reference_logits(model, x):
    out = [zoo_reference_forward(model, x[i:i + CHUNK], return_prerounding=True)
           for i in range(0, len(x), CHUNK)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def exactness(graph, model, x):
    """int8 outputs of every layer: integer graph vs float-eff reference."""
    env = run(graph, {"x": x}, keep_all=True)
    trace = {}
    zoo_reference_forward(model, x, trace=trace)
    diff = {k: np.abs(env[k].astype(np.int64) - trace[k]) for k in trace}
    local = 0  # each node run on the reference's own inputs: rounding decisions, no cascade
    for n in graph.nodes:
        ins = [trace.get(v, graph.consts.get(v, x)) for v in n.inputs]
        local += int((get_op(n.op).ref(ins, n.attrs)[0] != trace[n.outputs[0]]).sum())
    return dict(outputs=int(sum(d.size for d in diff.values())),
                outputs_differ=int(sum((d > 0).sum() for d in diff.values())),
                outputs_max_abs=int(max(d.max() for d in diff.values())),
                logits=int(diff["logits"].size),
                logits_differ=int((diff["logits"] > 0).sum()),
                logits_max_abs=int(diff["logits"].max()),
                photos_differ=int(np.any([d.reshape(len(x), -1).any(axis=1)
                                          for d in diff.values()], axis=0).sum()),
                local_differ=local, first_layers_differ=[k for k, d in diff.items() if d.any()][:3])


def bench_model(path, daisy_u8, photos8):
    model = load_zoo_dict(path)
    x = images_to_input(daisy_u8)
    x_orig = np.round(daisy_u8.astype(np.float64) - 127.5).astype(np.int16).transpose(0, 3, 1, 2)
    res = dict(model=path.stem, photos=len(x))
    ref = reference_logits(model, x)
    res["reference"] = rates(*ref)
    res["reference_orig_input"] = rates(*reference_logits(model, x_orig))
    for eff in ("float32", "float64"):
        g = zoo_to_graph(model, name=path.stem, eff_dtype=eff)
        t = time.perf_counter()
        logits, scores = graph_logits(g, x, chunk=CHUNK)
        r = rates(logits, scores)
        r["seconds"] = round(time.perf_counter() - t, 2)
        r["daisy_logits_differ"] = int((logits != ref[0]).sum())
        r["daisy_logits"] = int(logits.size)
        r["daisy_photos_differ"] = int((logits != ref[0]).any(axis=1).sum())
        r["exact8"] = exactness(g, model, photos8)
        res[f"graph_eff_{eff}"] = r
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "zoo_accuracy.json")
    args = ap.parse_args(argv)
    d = np.load(args.shared / "data" / "flowers5.npz")
    daisy = int(list(d["classes"]).index("daisy"))
    daisy_u8 = np.concatenate([d["x_train"][d["y_train"] == daisy],
                               d["x_test"][d["y_test"] == daisy]])
    photos8 = images_to_input(d["x_test"][:8])
    results = [bench_model(args.shared / "models" / f"{n}.pkl", daisy_u8, photos8)
               for n in NAMES if (args.shared / "models" / f"{n}.pkl").exists()]
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(daisy_class=DAISY, chunk=CHUNK, results=results),
                                   indent=1) + "\n")
    print(f"wrote {args.out}")


def print_table(results):
    pct = lambda r: f"{100 * r['top1']:5.1f} / {100 * r['top5']:5.1f}"  # noqa: E731
    print(f"daisy (class {DAISY}) top-1 / top-5 %, {results[0]['photos'] if results else 0} photos")
    print(f"{'model':16} {'graph f32-eff':>15} {'graph f64-eff':>15} {'reference':>15} "
          f"{'ref round(p-127.5)':>19}")
    for r in results:
        print(f"{r['model']:16} {pct(r['graph_eff_float32']):>15} {pct(r['graph_eff_float64']):>15}"
              f" {pct(r['reference']):>15} {pct(r['reference_orig_input']):>19}")
    print("\nint8 outputs that differ, integer graph vs float-eff reference"
          " (first 8 x_test photos; last two columns: all daisy photos)")
    print(f"{'model':16} {'eff':8} {'all layers':>20} {'max':>4} {'logits':>12} {'max':>4} "
          f"{'photos':>6} {'daisy logits':>15} {'photos':>6}")
    for r in results:
        for eff in ("float32", "float64"):
            g = r[f"graph_eff_{eff}"]
            e = g["exact8"]
            print(f"{r['model']:16} {eff:8} {e['outputs_differ']:>8} / {e['outputs']:<9} "
                  f"{e['outputs_max_abs']:>4} {e['logits_differ']:>5} / {e['logits']:<4} "
                  f"{e['logits_max_abs']:>4} {e['photos_differ']:>6} "
                  f"{g['daisy_logits_differ']:>6} / {g['daisy_logits']} "
                  f"{g['daisy_photos_differ']:>6}")


if __name__ == "__main__":
    main()
