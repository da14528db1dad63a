"""Benchmark: our PGD vs torchattacks' PGD on a network trained on digits-2v8 (inputs in [0, 1]).

Same network, same points, same steps and step size (2.5 * eps / steps), Linf. Prints robust
accuracy of both (ours with 1 and with 5 restarts; torchattacks has no restarts and returns the
last iterate, ours the best iterate) and wall times with their ratio, all in one process run.

    python benchmarks/pgd_vs_torchattacks.py [--width 32] [--steps 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

import numpy as np
import torch
import torchattacks
from torch import nn

import attacks
from robustbench_convex import load_dataset, train_sgd


class TwoLogits(nn.Module):
    """Binary model f as two-class logits [-f/2, f/2] for torchattacks (class 1 <-> label +1)."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x):
        z = self.f(x).reshape(-1)
        return torch.stack([-z / 2, z / 2], dim=1)


def best_time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = load_dataset("digits-2v8")
    net, _ = train_sgd(ds.X_train, ds.y_train, width=args.width, epochs=args.epochs)
    X, y = ds.X_test, ds.y_test.astype(int)
    Xt, yt01 = torch.as_tensor(X), torch.as_tensor((y + 1) // 2)
    clean = attacks.model_margins(net, X, y) > 0
    print(
        f"digits-2v8 test set: n = {len(X)}, d = {X.shape[1]}, width {args.width}, "
        f"clean accuracy {clean.mean():.3f}, {args.steps} steps, torch threads 2"
    )
    head = (
        f"{'eps':>5} {'ours r=1':>8} {'ours r=5':>8} {'torchatk':>8} "
        f"{'t ours r=1':>10} {'t torchatk':>10} {'ratio':>6} {'t ours r=5':>10}"
    )
    print(head)
    print("-" * len(head))
    for eps in args.eps:
        alpha = 2.5 * eps / args.steps

        def ours(r, eps=eps):
            atk = attacks.PGD(eps, args.steps, restarts=r, lower=ds.lower, upper=ds.upper)
            return attacks.model_margins(net, atk(net, X, y), y)

        def peer(eps=eps, alpha=alpha):
            torch.manual_seed(0)
            atk = torchattacks.PGD(TwoLogits(net), eps=eps, alpha=alpha, steps=args.steps)
            return attacks.model_margins(net, atk(Xt, yt01).detach().numpy(), y)

        t1, m1 = best_time(lambda: ours(1), args.repeat)
        t5, m5 = best_time(lambda: ours(5), args.repeat)
        tp, mp = best_time(peer, args.repeat)
        acc = [float(np.mean(clean & (m > 0))) for m in (m1, m5, mp)]
        print(
            f"{eps:>5g} {acc[0]:>8.3f} {acc[1]:>8.3f} {acc[2]:>8.3f} {t1:>10.3f} {tp:>10.3f} "
            f"{tp / t1:>6.2f} {t5:>10.3f}"
        )


if __name__ == "__main__":
    main()
