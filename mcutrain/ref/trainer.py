"""Reference trainer: runs the training graph step by step (batch 1, as on the device).

The state that a device keeps in RAM between steps (trained parameters, momentum, the step
counter) lives in `self.state`; everything else is read from the graph's constants.
"""
from __future__ import annotations

import numpy as np

from ..errors import DivergedError
from ..ir.graph import Graph
from ..progress import bar as progress_bar
from .interp import run


class ReferenceTrainer:
    def __init__(self, tg: Graph, lr: float | None = None):
        if "train" not in tg.meta:
            raise ValueError("not a training graph (use autodiff.make_training_graph)")
        self.g = tg
        self.t = tg.meta["train"]
        self.lr = float(self.t["config"]["lr"] if lr is None else lr)
        self.state = {}
        for e in self.t["entries"]:
            self.state[e["param"]] = tg.consts[e["param"]].copy()
            if e.get("mom"):
                self.state[e["mom"]] = tg.consts[e["mom"]].copy()
        self.steps = 0

    def params(self) -> dict:
        """Current values of every trained parameter (and optimizer state)."""
        return {k: v.copy() for k, v in self.state.items()}

    def step(self, x: np.ndarray, label: int) -> tuple[float, np.ndarray]:
        """One training step on one sample (x: model input with batch 1)."""
        feeds = {self.t["input"]: x, self.t["label"]: np.asarray([label], np.int32),
                 self.t["lr"]: np.float32(self.lr), self.t["step"]: np.int32(self.steps)}
        out = run(self.g, feeds, self.state)
        for e in self.t["entries"]:
            self.state[e["param"]] = out[e["new"]]
            if e.get("mom"):
                self.state[e["mom"]] = out[e["mom_new"]]
        self.steps += 1
        return float(out[self.t["loss"]]), out[self.t["logits"]]

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int = 1, seed: int = 0,
            progress: bool = False, eval_data=None) -> list[dict]:
        """SGD over (x, y) for some epochs; returns per-epoch loss / train accuracy."""
        rng = np.random.default_rng(seed)
        history = []
        for ep in range(epochs):
            order = rng.permutation(len(x))
            it = progress_bar(order, desc=f"epoch {ep + 1}/{epochs}", leave=False,
                              enabled=progress)
            losses, correct = [], 0
            for i in it:
                loss, logits = self.step(x[i:i + 1], int(y[i]))
                if not np.isfinite(loss):
                    raise DivergedError(f"training diverged: the loss became {loss} at step "
                                        f"{self.steps} (lower the learning rate)")
                losses.append(loss)
                correct += int(np.argmax(logits.reshape(-1)) == y[i])
            rec = dict(epoch=ep + 1, loss=float(np.mean(losses)), train_acc=correct / len(x))
            if eval_data is not None:
                rec["test_acc"] = self.evaluate(*eval_data)
            history.append(rec)
        return history

    def predict(self, x: np.ndarray, batch: int = 128) -> np.ndarray:
        """Logits (as the graph gives them) of the forward pass with the current parameters."""
        outs = []
        for i in range(0, len(x), batch):
            r = run(self.g, {self.t["input"]: x[i:i + batch]}, self.state, outputs=[self.t["logits"]])
            outs.append(r[self.t["logits"]].reshape(len(x[i:i + batch]), -1))
        return np.concatenate(outs)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        if len(x) == 0:
            raise ValueError("no samples to evaluate")
        return float(np.mean(self.predict(x).argmax(axis=1) == np.asarray(y)))
