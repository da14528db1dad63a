"""Agreement with real peers on a network trained on digits-2v8 (inputs in [0, 1]):

* torchattacks' PGD (a test dependency only): our PGD is never weaker (within one example);
* the exact MILP verifier: PGD with restarts is within 2 percentage points of exact robust
  accuracy, and the sandwich certified <= exact <= PGD holds on every example.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import attacks
from robustbench_convex import load_dataset
from robustbench_convex.network import TwoLayerReLU

torchattacks = pytest.importorskip("torchattacks")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained():
    ds = load_dataset("digits-2v8")
    gen = torch.Generator().manual_seed(0)
    net = TwoLayerReLU(ds.n_features, 32)
    with torch.no_grad():  # a seeded initialization that does not touch the global RNG
        for p in net.parameters():
            p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) - 0.5) * 0.5)
    X = torch.as_tensor(ds.X_train)
    y = torch.as_tensor(ds.y_train)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the per-test thread fixture
    try:
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.softplus(-y * net(X)).mean() + 1e-4 * net.weight_decay()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return net, ds


class TwoLogits(nn.Module):
    """The binary model as two-class logits [-f/2, f/2] (softmax = sigmoid(f)); class 1 <-> +1."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x):
        z = self.f(x).reshape(-1)
        return torch.stack([-z / 2, z / 2], dim=1)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_our_pgd_no_weaker_than_torchattacks(trained, eps):
    net, ds = trained
    X, y = ds.X_test, ds.y_test.astype(int)
    assert np.all(ds.lower == 0) and np.all(ds.upper == 1)  # torchattacks clamps to [0, 1]
    clean = attacks.model_margins(net, X, y) > 0
    assert clean.mean() > 0.95
    steps = 50
    ours = attacks.robust_accuracy(
        net, X, y, attacks.PGD(eps, steps, restarts=5, lower=ds.lower, upper=ds.upper, seed=0)
    )
    torch.manual_seed(0)  # torchattacks draws its random start from the global RNG
    peer = torchattacks.PGD(TwoLogits(net), eps=eps, alpha=2.5 * eps / steps, steps=steps)
    xa = peer(torch.as_tensor(X), torch.as_tensor((y + 1) // 2)).detach().numpy()
    assert np.all(np.abs(xa - X) <= eps + 1e-9) and xa.min() >= 0 and xa.max() <= 1
    theirs = float(np.mean(clean & (attacks.model_margins(net, xa, y) > 0)))
    assert ours <= theirs + 1 / len(X), (ours, theirs)
    assert ours < clean.mean() or eps == 0.05  # the attack does something at these radii


def test_pgd_within_two_points_of_exact_and_sandwich(trained):
    net, ds = trained
    X, y = ds.X_test[:100], ds.y_test[:100].astype(int)
    for eps in (0.05, 0.1):
        ex = attacks.exact(net, X, y, eps, ds.lower, ds.upper, time_limit=60, mode="decide")
        assert ex.decided.all()
        pgd = attacks.PGD(eps, 50, restarts=5, lower=ds.lower, upper=ds.upper)
        acc_pgd, robust_pgd = attacks.robust_accuracy(net, X, y, pgd, return_mask=True)
        cert = attacks.lp_certify(net, X, y, eps, ds.lower, ds.upper)
        # per example: certified => exact-robust => PGD-robust
        assert np.all(ex.robust[cert.certified])
        assert np.all(robust_pgd[ex.robust])
        assert acc_pgd - ex.robust_accuracy <= 0.02, (eps, acc_pgd, ex.robust_accuracy)
