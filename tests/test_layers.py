"""The package is layered: each part (a subpackage or a top-level module of mcutrain/)
imports only parts below it in LAYERS, so it reads bottom-up as the data flows and no two
parts import each other. Every import counts, a lazy one inside a function too."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "mcutrain"

# Bottom-up. Parts on one row do not import each other. (docs/architecture.md explains each.)
LAYERS = [
    ["errors"],  # mcutrain's error types
    ["units", "progress", "outdir"],  # memory sizes, progress bars, safe output folders
    ["ir"],  # Graph, Value, Node, dtypes, text form, saved graphs
    ["ops"],  # OpDefs (shape rule, reference, gradient rule), the builder, the verifier
    ["data"],  # datasets, the built-in default task
    ["ref"],  # the NumPy interpreter: the specification of every op
    ["quant"],  # BN folding, calibration (runs ref), int8 quantization, QAS scales
    ["frontend"],  # PyTorch, zoo pickles (-> quant)
    ["autodiff"],  # schemes, new head, backward graph, the training graph
    ["passes"],  # the pass pipeline (prune, bitmasks, reorder, fuse, in place)
    ["schedule"],  # the memory plan: a value computed from the training graph
    ["codegen"],  # model.c / model.h from the graph and the plan
    ["artifacts"],  # report.json / params.npz readers and writers
    ["targets"],  # host build (ctypes), Cortex-M build and QEMU runner
    ["compile"],  # model + budget + scheme -> an output folder
    ["train"],  # `train` / `eval` on the host or in QEMU
    ["sparse", "export"],  # the scheme planner; `export` (a trained model as .tflite / params)
    ["demo"],
    ["cli"],
]
HEIGHT = {p: h for h, row in enumerate(LAYERS) for p in row}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> list:
    """(importing part, imported part, file, line) of every mcutrain import in the package."""
    out = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("").parts
        mod = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        pkg = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    t = ".".join(base + ([node.module] if node.module else []))
                else:
                    t = node.module or ""
                targets = [t] if node.module else [f"{t}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("mcutrain.") and part_of(t) != part_of(mod):
                    out.append((part_of(mod), part_of(t), f.relative_to(PKG.parent), node.lineno))
    return out


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or
             (p.suffix == ".py" and p.name != "__init__.py")}
    assert parts == set(HEIGHT), (f"not in LAYERS: {sorted(parts - set(HEIGHT))}; "
                                  f"in LAYERS but gone: {sorted(set(HEIGHT) - parts)}")


def test_parts_import_only_parts_below_them():
    bad = [f"{f}:{line}: {a} imports {b}" for a, b, f, line in imports()
           if a in HEIGHT and b in HEIGHT and HEIGHT[b] >= HEIGHT[a]]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_the_checker_sees_lazy_imports(tmp_path):
    """The check must not pass because it overlooks imports inside functions."""
    found = {(a, b) for a, b, _, _ in imports()}
    assert ("cli", "compile") in found  # cli imports compile inside its command functions
