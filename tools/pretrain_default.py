"""Pretrain the built-in default model (dev-time; needs torch and scikit-learn).

    python tools/pretrain_default.py            # writes mcutrain/data/default_digits.npz

A small CNN with BatchNorm and one MobileNetV2-style inverted residual block is trained in
float on the upright pretraining digits (mcutrain.data.default_model.digits_task), with
random shifts of up to one pixel as augmentation (no rotations: rotated digits are the new
data the device has to adapt to). Seeded and deterministic; about 20 s on 2 CPU cores.
The model is converted with mcutrain.frontend.torch_fx.from_torch, checked against torch,
and saved with mcutrain.ir.serialize.save_graph.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from mcutrain.data import default_model as dm  # noqa: E402
from mcutrain.frontend.torch_fx import from_torch  # noqa: E402
from mcutrain.ir.serialize import save_graph  # noqa: E402
from mcutrain.ref.interp import run  # noqa: E402


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand + BN + ReLU6, 3x3 depthwise + BN + ReLU6, 1x1 project + BN (+ x)."""

    def __init__(self, cin, cout, stride=1, expand=2):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride, mid),
                                  conv_bn(mid, cout, 1, act=False))

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_res else y


class DigitsNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 16, 3),               # 8x8
            InvertedResidual(16, 16, 1, 2),  # 8x8, residual
            conv_bn(16, 32, 3, stride=2),    # 4x4
            conv_bn(32, 32, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(32, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def shift_batch(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel in each direction (zero fill)."""
    n = x.shape[0]
    pad = nn.functional.pad(x, (1, 1, 1, 1))
    dy = torch.randint(0, 3, (n,), generator=gen)
    dx = torch.randint(0, 3, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(8)[None, :])[:, None, :, None].expand(n, 1, 8, 10)
    out = torch.gather(pad, 2, rows)
    cols = (dx[:, None] + torch.arange(8)[None, :])[:, None, None, :].expand(n, 1, 8, 8)
    return torch.gather(out, 3, cols)


def train(model, x, y, epochs, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(x) + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            xb = shift_batch(x[idx], gen)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def accuracy(g, x_uint8, y) -> float:
    logits = run(g, {"x": dm.to_float_input(x_uint8)})[g.outputs[0]]
    return float((logits.argmax(1) == y).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=dm.MODEL_PATH)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.time()
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    task = dm.digits_task()
    x = torch.from_numpy(dm.to_float_input(task["pretrain_x"]))
    y = torch.from_numpy(task["pretrain_y"])
    model = DigitsNet()
    train(model, x, y, args.epochs, args.seed)
    g = from_torch(model, dm.INPUT_SHAPE)
    xt = dm.to_float_input(task["upright_test_x"])
    with torch.no_grad():
        ref = model(torch.from_numpy(xt)).numpy()
    ours = run(g, {"x": xt})[g.outputs[0]]
    err = float(np.abs(ours - ref).max() / np.abs(ref).max())
    assert err < 1e-5, f"converted graph differs from torch: {err:g}"
    save_graph(g, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KB) in {time.time() - t0:.1f} s")
    for split in ("pretrain", "upright_test", "test"):
        print(f"float accuracy {split:13s}: {accuracy(g, task[split + '_x'], task[split + '_y']):.4f}")


if __name__ == "__main__":
    main()
