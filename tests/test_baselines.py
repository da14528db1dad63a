"""Tests of the back-propagation baselines (robustbench_convex.baselines)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import attacks
import robustbench_convex as rbc
from robustbench_convex.baselines import (
    TrainingRecord,
    multi_start,
    train_fgsm_at,
    train_pgd_at,
    train_sgd,
)
from robustbench_convex.network import TwoLayerReLU


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These networks are tiny: one intra-op thread is faster, and far faster on a busy machine
    (a second thread waiting for a busy core stalls every small op). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _blobs(n: int = 40, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = rng.normal(size=(n, d)) + 0.8 * y[:, None]
    return X, y


def _logistic_objective_and_grad(U, b, alpha, X, y, beta):
    """Objective sum_k log(1+exp(-y_k f(x_k))) + beta/2 (|U|^2+|b|^2+|alpha|^2) and its gradient,
    by hand in numpy (independent of torch autograd and of the library's loss code)."""
    Z = X @ U.T + b
    H = np.maximum(Z, 0.0)
    f = H @ alpha
    obj = np.sum(np.logaddexp(0.0, -y * f)) + 0.5 * beta * (
        np.sum(U**2) + np.sum(b**2) + np.sum(alpha**2)
    )
    g = -y / (1.0 + np.exp(y * f))  # d loss_k / d f_k
    G = np.outer(g, alpha) * (Z > 0)
    return obj, G.T @ X + beta * U, G.sum(axis=0) + beta * b, H.T @ g + beta * alpha


# ------------------------------------------------------------------------------ conventions
def test_objective_is_the_full_data_sum_convention():
    X, y = _blobs()
    beta = 0.3
    net, rec = train_sgd(X, y, width=7, loss="logistic", weight_decay=beta, epochs=5, seed=1)
    w = net.to_numpy()
    assert w["c"] is None  # no output bias by default: the convex programs' model class
    obj, *_ = _logistic_objective_and_grad(w["U"], w["b"], w["alpha"], X, y, beta)
    assert rec.objective == pytest.approx(obj, rel=1e-12)
    assert rec.objective_history[-1] == pytest.approx(obj, rel=1e-12)
    assert rec.train_accuracy == pytest.approx(np.mean(y * net.decision_function(X) > 0))


def test_one_full_batch_sgd_step_is_gradient_of_objective_over_n():
    """Full batch, plain SGD: w1 = w0 - lr * grad(objective)(w0) / n (objective = sums)."""
    X, y = _blobs(n=30, d=4, seed=3)
    n = X.shape[0]
    beta, lr, seed = 0.7, 0.05, 5
    gen = torch.Generator().manual_seed(seed)  # documented: default init from generator(seed)
    w0 = TwoLayerReLU(4, 6, output_bias=False, generator=gen).to_numpy()
    obj0, gU, gb, ga = _logistic_objective_and_grad(w0["U"], w0["b"], w0["alpha"], X, y, beta)
    net, rec = train_sgd(
        X, y, width=6, weight_decay=beta, optimizer="sgd", momentum=0.0, lr=lr, epochs=1, seed=seed
    )
    w1 = net.to_numpy()
    np.testing.assert_allclose(w1["U"], w0["U"] - lr * gU / n, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(w1["b"], w0["b"] - lr * gb / n, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(w1["alpha"], w0["alpha"] - lr * ga / n, rtol=1e-10, atol=1e-13)
    # loss_history[0]: loss at w0 (full batch, before the step) + beta * wd at the epoch's end
    wd1 = 0.5 * (np.sum(w1["U"] ** 2) + np.sum(w1["b"] ** 2) + np.sum(w1["alpha"] ** 2))
    wd0 = 0.5 * (np.sum(w0["U"] ** 2) + np.sum(w0["b"] ** 2) + np.sum(w0["alpha"] ** 2))
    assert rec.loss_history[0] == pytest.approx(obj0 - beta * wd0 + beta * wd1, rel=1e-12)


def test_minibatch_step_uses_mean_loss_plus_beta_over_n_weight_decay():
    """Minibatch steps minimize mean_{k in B} loss_k + (beta/n) wd. With n copies of one point
    every batch is the same, so an epoch of batch size n/2 is two hand-computable steps."""
    n, beta, lr, seed = 10, 0.4, 0.1, 2
    x = np.array([[0.3, -1.2]])
    X, y = np.repeat(x, n, axis=0), np.ones(n)
    net, _ = train_sgd(
        X,
        y,
        width=5,
        weight_decay=beta,
        optimizer="sgd",
        momentum=0.0,
        lr=lr,
        epochs=1,
        batch_size=n // 2,
        seed=seed,
    )
    gen = torch.Generator().manual_seed(seed)
    w = TwoLayerReLU(2, 5, output_bias=False, generator=gen).to_numpy()
    U, b, alpha = w["U"], w["b"], w["alpha"]
    for _ in range(2):  # criterion = loss(x) + (beta / n) wd: the helper with one point
        _, gU, gb, ga = _logistic_objective_and_grad(U, b, alpha, x, y[:1], beta / n)
        U, b, alpha = U - lr * gU, b - lr * gb, alpha - lr * ga
    w1 = net.to_numpy()
    np.testing.assert_allclose(w1["U"], U, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(w1["b"], b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(w1["alpha"], alpha, rtol=1e-10, atol=1e-13)


def test_global_rng_untouched_and_records_deterministic():
    X, y = _blobs()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a_net, a = train_sgd(X, y, width=8, epochs=15, batch_size=8, seed=4)
    after = torch.rand(3)
    assert torch.equal(after, expected)
    b_net, b = train_sgd(X, y, width=8, epochs=15, batch_size=8, seed=4)
    assert a.loss_history == b.loss_history and a.objective_history == b.objective_history
    assert a.objective == b.objective and a.settings == b.settings
    np.testing.assert_array_equal(a_net.to_numpy()["U"], b_net.to_numpy()["U"])
    _, c = train_sgd(X, y, width=8, epochs=15, batch_size=8, seed=5)
    assert c.objective != a.objective  # the seed matters


def test_trainings_in_parallel_threads_match_sequential_ones():
    """Threads share torch's global RNG; trainers must not use it (a Dask worker runs cells in
    threads: before the fix, concurrent cells raced on the initialization)."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = _blobs()
    seeds = [0, 1, 2, 3, 4, 5]
    sequential = [train_sgd(X, y, width=8, epochs=20, seed=s)[1].objective for s in seeds]
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda s: train_sgd(X, y, width=8, epochs=20, seed=s), seeds))
    assert [rec.objective for _, rec in runs] == sequential


def test_num_threads_is_set_for_the_call_and_restored():
    X, y = _blobs(n=10)
    torch.set_num_threads(2)  # the autouse fixture restores the original afterwards
    _, rec = train_sgd(X, y, width=3, epochs=2, num_threads=1)
    assert torch.get_num_threads() == 2 and rec.settings["num_threads"] == 1
    _, rec = train_sgd(X, y, width=3, epochs=2)
    assert rec.settings["num_threads"] == 2
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        train_sgd(X, y, num_threads=0)
    assert torch.get_num_threads() == 2


def test_progress_bar_only_when_verbose(capsys):
    X, y = _blobs(n=10)
    train_sgd(X, y, width=3, epochs=3)
    assert capsys.readouterr().err == ""
    train_sgd(X, y, width=3, epochs=3, verbose=True)
    assert "sgd" in capsys.readouterr().err


def test_torch_tensor_input_gives_the_same_run():
    X, y = _blobs(n=12)
    _, a = train_sgd(X, y, width=3, epochs=4, seed=1)
    _, b = train_sgd(torch.as_tensor(X), torch.as_tensor(y), width=3, epochs=4, seed=1)
    assert a.objective == b.objective


def test_record_is_json_serializable_and_complete():
    X, y = _blobs()
    _, rec = train_sgd(X, y, width=4, epochs=3, seed=0, batch_size=16)
    assert isinstance(rec, TrainingRecord)
    d = json.loads(json.dumps(rec.to_dict()))
    assert d["method"] == "sgd" and d["epochs_run"] == 3 and len(d["loss_history"]) == 3
    assert d["settings"]["seed"] == 0 and d["settings"]["batch_size"] == 16
    assert d["settings"]["dtype"] == "float64" and d["robust_objective"] is None
    assert d["status"] == "completed" and d["time"] > 0


def test_adam_decreases_the_objective_and_fits_separable_data():
    X, y = _blobs(n=60, d=2, seed=7)
    X[:, 0] += 3 * y  # linearly separable with a wide gap
    _, rec = train_sgd(X, y, width=10, weight_decay=1e-3, epochs=150, seed=0)
    assert rec.objective < 0.2 * rec.objective_history[0]
    assert rec.train_accuracy == 1.0
    assert np.all(np.diff(rec.objective_history[-20:]) < 1e-3 * rec.objective)  # settled


def test_early_stopping_patience_semantics():
    X, y = _blobs()
    # a relative improvement of 100% per epoch is impossible: stops after exactly 1 + patience
    _, rec = train_sgd(X, y, width=4, epochs=50, seed=0, early_stopping=3, early_stopping_tol=1.0)
    assert rec.status == "early_stopped" and rec.epochs_run == 4 and len(rec.loss_history) == 4
    _, rec = train_sgd(X, y, width=4, epochs=30, seed=0, early_stopping=30)
    assert rec.status == "completed" and rec.epochs_run == 30


def test_divergence_is_reported():
    X, y = _blobs()
    _, rec = train_sgd(
        X * 1e3, y, width=8, loss="squared", optimizer="sgd", lr=10.0, epochs=50, seed=0
    )
    assert rec.status == "diverged" and "lr" in rec.message
    assert rec.epochs_run < 50
    # minibatch adversarial training: stops at once, no attack ever sees NaN weights
    _, rec = rbc.train_pgd_at(
        X * 1e3,
        y,
        eps=0.1,
        width=8,
        loss="squared",
        optimizer="sgd",
        lr=10.0,
        epochs=50,
        batch_size=5,
        seed=0,
    )
    assert rec.status == "diverged" and rec.robust_objective is None and rec.epochs_run < 50


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_all_losses_train(loss):
    X, y = _blobs(n=30, d=2, seed=1)
    _, rec = train_sgd(X, y, width=6, loss=loss, weight_decay=0.1, epochs=60, seed=0)
    assert math.isfinite(rec.objective) and rec.objective < rec.objective_history[0]
    assert rec.settings["loss"] == loss


def test_exported_from_package():
    assert rbc.train_sgd is train_sgd
    assert rbc.multi_start is multi_start


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(width=0), "width must be >= 1"),
        (dict(width=2.5), "width must be an int"),
        (dict(loss="mse"), "loss must be one of"),
        (dict(weight_decay=-1.0), "weight_decay must be finite and >= 0"),
        (dict(optimizer="rmsprop"), "optimizer must be 'adam' or 'sgd'"),
        (dict(epochs=0), "epochs must be >= 1"),
        (dict(batch_size=0), "batch_size must be >= 1"),
        (dict(lr=0.0), "lr must be finite and > 0"),
        (dict(seed=-1), "seed must be >= 0"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    X, y = _blobs()
    err = TypeError if "int" in match else ValueError
    with pytest.raises(err, match=match):
        train_sgd(X, y, **kwargs)


def test_bad_data():
    X, y = _blobs()
    # one label policy with the convex programs: {0, 1} labels are converted (0 -> -1), and said
    with pytest.warns(UserWarning, match=r"labels in \{0, 1\} were converted"):
        net01, _ = train_sgd(X, (y + 1) / 2, epochs=3)
    net, _ = train_sgd(X, y, epochs=3)
    for a, b in zip(net01.parameters(), net.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="binary labels"):
        train_sgd(X, y + 2)
    with pytest.raises(ValueError, match="one label per row"):
        train_sgd(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_sgd(Xn, y)
    with pytest.raises(ValueError, match="2-D"):
        train_sgd(X[:, 0], y)


# ------------------------------------------------------------------------------ vs convex optimum
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_no_sgd_run_beats_the_exact_convex_optimum(loss):
    """With every activation pattern enumerated, the convex program's optimum is the global
    minimum of the weight-decay objective at any width: no back-propagation run may end below it
    (beyond the solver's tolerance), and a good run gets close (so the check is not vacuous)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 2))
    y = np.where(rng.normal(size=8) + X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    beta = 0.1
    problem = rbc.ConvexReLUProblem(X, y, loss=loss, beta=beta, patterns="all")
    assert problem.is_exact
    solution = rbc.solve_cvxpy(problem)
    assert solution.status == "converged"
    optimum = solution.objective
    tol = 1e-6 * max(1.0, abs(optimum))
    kw = dict(width=12, loss=loss, weight_decay=beta, epochs=300, lr=0.05)
    df = multi_start(train_sgd, X, y, seeds=4, **kw)
    assert (df["objective"] >= optimum - tol).all(), (optimum, df["objective"].tolist())
    assert df["objective"].min() <= 1.05 * optimum, (optimum, df["objective"].tolist())
    # the record's objective is the problem's network objective (the same convention)
    net, rec = train_sgd(X, y, seed=0, **kw)
    assert problem.network_objective(net) == pytest.approx(rec.objective, rel=1e-12)
    assert rec.objective == df["objective"].iloc[0]


# ------------------------------------------------------------------------------ multi-start
def test_multi_start_table_matches_single_runs():
    X, y = _blobs(n=40, d=2, seed=2)
    Xt, yt = _blobs(n=20, d=2, seed=9)
    kw = dict(width=5, epochs=20, weight_decay=0.1)
    df = multi_start(train_sgd, X, y, seeds=[3, 1, 4], X_test=Xt, y_test=yt, **kw)
    assert list(df["seed"]) == [3, 1, 4]
    for _, row in df.iterrows():
        net, rec = train_sgd(X, y, seed=int(row["seed"]), **kw)
        assert row["objective"] == rec.objective
        assert row["test_acc"] == pytest.approx(np.mean(yt * net.decision_function(Xt) > 0))
        assert row["train_acc"] == rec.train_accuracy
    assert df["objective"].nunique() == 3  # different initializations, different end points
    assert df["robust_test_acc"].isna().all() and df["robust_objective"].isna().all()
    assert len(multi_start(train_sgd, X, y, seeds=2, **kw)) == 2
    with pytest.raises(ValueError, match="both X_test and y_test"):
        multi_start(train_sgd, X, y, seeds=1, X_test=Xt)


# ------------------------------------------------------------------------------ adversarial training
def _digits_2v8():
    """digits 2-vs-8 in [0, 1] with its bounds (the project's data set)."""
    ds = rbc.load_dataset("digits-2v8")
    return ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.lower, ds.upper


@pytest.fixture
def pgd_spy(monkeypatch):
    """Record every call of attacks.PGD (the shared module's class) and check its output."""
    calls = []
    original = attacks.PGD.__call__

    def spy(self, model, x, y):
        x_adv = original(self, model, x, y)
        calls.append(
            dict(
                eps=self.eps,
                steps=self.steps,
                step_size=self.step_size,
                seed=self.seed,
                random_start=self.random_start,
                n=x.shape[0],
                dist=float((x_adv - x).abs().max()),
                lo=float(x_adv.min()),
                hi=float(x_adv.max()),
            )
        )
        return x_adv

    monkeypatch.setattr(attacks.PGD, "__call__", spy)
    return calls


def _robust_accuracy(net, X, y, eps, lower, upper):
    pgd = attacks.PGD(eps, steps=50, restarts=2, lower=lower, upper=upper, seed=123)
    xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    x_adv = pgd(net, xt, yt)
    with torch.no_grad():
        return float(((yt * net(xt) > 0) & (yt * net(x_adv) > 0)).double().mean())


def test_pgd_at_raises_pgd_robust_accuracy_on_digits():
    X, y, Xt, yt, lo, hi = _digits_2v8()
    kw = dict(width=32, epochs=60, batch_size=64, seed=0)
    std, _ = train_sgd(X, y, **kw)
    rob, rec = rbc.train_pgd_at(X, y, eps=0.1, lower=lo, upper=hi, **kw)
    acc_std = _robust_accuracy(std, Xt, yt, 0.1, lo, hi)
    acc_rob = _robust_accuracy(rob, Xt, yt, 0.1, lo, hi)
    assert acc_rob >= acc_std + 0.1, (acc_std, acc_rob)
    assert np.mean(rob.predict(Xt) == yt) >= 0.9  # still a good classifier
    assert rec.robust_objective >= rec.objective  # best-iterate PGD never lowers a margin loss


def test_pgd_at_trains_on_the_attack_modules_pgd(pgd_spy):
    X, y = _blobs(n=40, d=3)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    epochs, batch = 3, 16  # 3 batches per epoch (16, 16, 8)
    _, rec = rbc.train_pgd_at(
        X,
        y,
        eps=0.2,
        steps=4,
        step_size=0.07,
        lower=lo,
        upper=hi,
        width=5,
        epochs=epochs,
        batch_size=batch,
        seed=0,
        eval_steps=7,
    )
    train_calls, eval_call = pgd_spy[:-1], pgd_spy[-1]
    assert len(train_calls) == epochs * 3 and [c["n"] for c in train_calls[:3]] == [16, 16, 8]
    assert all(c["eps"] == 0.2 and c["steps"] == 4 and c["step_size"] == 0.07 for c in train_calls)
    assert all(c["random_start"] for c in train_calls)
    assert len({c["seed"] for c in train_calls}) == len(train_calls)  # a fresh start per batch
    assert all(c["dist"] <= 0.2 + 1e-12 for c in pgd_spy)
    assert eval_call["n"] == 40 and eval_call["steps"] == 7
    assert rec.settings["steps"] == 4 and rec.settings["eps"] == 0.2


def test_fgsm_at_is_one_random_start_pgd_step_of_1_25_eps(pgd_spy):
    X, y = _blobs(n=20, d=3)
    _, rec = rbc.train_fgsm_at(X, y, eps=0.08, width=4, epochs=2, seed=0)
    train_calls = pgd_spy[:-1]
    assert len(train_calls) == 2
    assert all(
        c["steps"] == 1 and c["random_start"] and c["step_size"] == pytest.approx(1.25 * 0.08)
        for c in train_calls
    )
    assert rec.method == "fgsm-at" and rec.robust_objective is not None


def test_adversarial_training_optimizes_on_the_attack_output(monkeypatch):
    """With the attack replaced by the identity, PGD-AT is exactly standard training (so nothing
    but the attack's output enters the gradient steps); with the real attack it is not."""
    X, y = _blobs(n=30, d=2)
    kw = dict(width=4, epochs=4, batch_size=10, seed=3)
    std, _ = train_sgd(X, y, **kw)
    real, _ = rbc.train_pgd_at(X, y, eps=0.3, **kw)
    monkeypatch.setattr(attacks.PGD, "__call__", lambda self, model, x, y: x.clone())
    ident, _ = rbc.train_pgd_at(X, y, eps=0.3, **kw)
    np.testing.assert_array_equal(ident.to_numpy()["U"], std.to_numpy()["U"])
    np.testing.assert_array_equal(ident.to_numpy()["alpha"], std.to_numpy()["alpha"])
    assert not np.allclose(real.to_numpy()["U"], std.to_numpy()["U"])


@pytest.mark.parametrize("trainer", ["train_pgd_at", "train_fgsm_at"])
def test_adversarial_records_deterministic(trainer):
    X, y = _blobs(n=30, d=3)
    fn = getattr(rbc, trainer)
    kw = dict(eps=0.2, width=5, epochs=4, batch_size=8, seed=7)
    (n1, a), (n2, b) = fn(X, y, **kw), fn(X, y, **kw)
    assert a.loss_history == b.loss_history and a.objective == b.objective
    assert a.robust_objective == b.robust_objective
    np.testing.assert_array_equal(n1.to_numpy()["U"], n2.to_numpy()["U"])
    assert json.loads(json.dumps(a.to_dict()))["settings"]["eps"] == 0.2


@pytest.mark.parametrize("trainer", ["train_pgd_at", "train_fgsm_at"])
def test_adversarial_bad_input(trainer):
    X, y = _blobs(n=10, d=2)
    fn = getattr(rbc, trainer)
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        fn(X, y, eps=-0.1)
    with pytest.raises(ValueError, match="width must be >= 1"):
        fn(X, y, eps=0.1, width=0)
    with pytest.raises(ValueError, match=r"bounds do not contain the data.*dataset\.lower"):
        fn(X, y, eps=0.1, lower=0.0, upper=1.0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        fn(X, y, eps=0.1, lower=np.array([5.0, -9.0]), upper=np.array([4.0, 9.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        fn(X, y, eps=0.1, lower=np.zeros(3))
    if trainer == "train_pgd_at":
        with pytest.raises(ValueError, match="steps must be >= 1"):
            fn(X, y, eps=0.1, steps=0)


def test_multi_start_with_attack_reports_robust_accuracy():
    X, y = _blobs(n=30, d=2)
    Xt, yt = _blobs(n=20, d=2, seed=5)
    pgd = attacks.PGD(0.3, steps=10, seed=0)
    df = multi_start(
        rbc.train_pgd_at,
        X,
        y,
        seeds=2,
        X_test=Xt,
        y_test=yt,
        attack=pgd,
        eps=0.3,
        width=4,
        epochs=5,
    )
    assert (df["robust_test_acc"] <= df["test_acc"]).all()
    assert df["robust_objective"].notna().all() and (df["method"] == "pgd-at").all()


def test_adversarial_trainers_share_one_signature_of_the_training_settings():
    """train_pgd_at / train_fgsm_at are one implementation (_train_adversarial); their
    signatures show their own keywords and train_sgd's settings, with train_sgd's defaults."""
    import inspect

    sgd = inspect.signature(train_sgd).parameters
    for trainer in (train_pgd_at, train_fgsm_at):
        params = inspect.signature(trainer).parameters
        assert {"eps", "step_size", "lower", "upper", "eval_steps"} <= set(params)
        for name, p in sgd.items():
            assert params[name].default == p.default and params[name].kind == p.kind
    assert inspect.signature(train_pgd_at).parameters["steps"].default == 10
    assert "steps" not in inspect.signature(train_fgsm_at).parameters  # one step, by definition
    X = np.zeros((4, 2))
    y = np.array([1.0, -1.0, 1.0, -1.0])
    with pytest.raises(TypeError, match=r"train_fgsm_at\(\) got an unexpected keyword .*steps"):
        train_fgsm_at(X, y, eps=0.1, steps=3)
