"""Back-propagation baselines for one-hidden-layer ReLU networks.

* :func:`train_sgd`: standard training by Adam or SGD (with momentum);
* :func:`train_pgd_at`: PGD adversarial training (Madry et al., 2018);
* :func:`train_fgsm_at`: "fast" FGSM adversarial training with a random start (Wong et al., 2020);
* :func:`train_ibp`: certified training by interval bound propagation (Gowal et al., 2018);
* :func:`train_crown_ibp`: certified training by CROWN-IBP (Zhang et al., 2020);
* :func:`margin_bounds`: the sound IBP / CROWN bounds on the worst-case margin that they train on;
* :func:`multi_start`: the same trainer over many seeds, as a table of objectives and accuracies.

Every trainer returns ``(network, record)``: a :class:`~robustbench_convex.network.TwoLayerReLU`
and a :class:`TrainingRecord`. The inner maximization of adversarial training is always the shared
``attacks`` module's PGD (there is no second attack implementation in this file).

Conventions (the same as the convex problems, so that numbers compare directly):

* labels ``y`` in {-1, +1}; the network returns one logit per row;
* the objective is ``sum_k loss(f(x_k), y_k) + beta * net.weight_decay()`` with
  ``net.weight_decay() = 1/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)`` (output bias not penalized)
  and ``beta = weight_decay``. :attr:`TrainingRecord.objective` is exactly this value on the full
  training set at the end of training, so it can be compared with a convex optimum (and with
  ``ConvexReLUProblem.network_objective(net)``) without any rescaling;
* minibatch training minimizes ``(1/n) * [(n/|B|) * sum_{k in B} loss_k + beta * wd]
  = mean_{k in B} loss_k + (beta/n) * wd``, i.e. ``1/n`` times an unbiased estimate of the
  objective: the same minimizer as the objective, with learning rates on the usual "mean loss"
  scale whatever ``n`` is;
* the network has hidden biases (``bias=True``) and no output bias (``output_bias=False``) by
  default, the model class of ``ConvexReLUProblem(..., bias=True)``;
* initialization is PyTorch's default distribution (``TwoLayerReLU.reset_parameters``) drawn
  from a ``torch.Generator`` seeded with ``seed``; all randomness (initialization, minibatch
  order, random starts of the attacks) comes from local generators derived from ``seed``, so the
  global torch RNG is never read or written: records are reproducible on CPU, also when several
  trainings run in threads of one process;
* float64 by default (``dtype``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from robustbench_convex._checks import as_numpy as _as_numpy
from robustbench_convex._checks import check_data as _check_data
from robustbench_convex._checks import check_float as _check_float
from robustbench_convex._checks import check_fraction as _check_fraction
from robustbench_convex._checks import check_int as _check_int
from robustbench_convex._json import jsonable
from robustbench_convex._threads import torch_threads
from robustbench_convex.losses import LossName, check_loss, loss_value
from robustbench_convex.network import TwoLayerReLU

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BoundMethod",
    "TrainingRecord",
    "margin_bounds",
    "multi_start",
    "train_crown_ibp",
    "train_fgsm_at",
    "train_ibp",
    "train_pgd_at",
    "train_sgd",
]

Method = Literal["sgd", "pgd-at", "fgsm-at"]
CertifiedMethod = Literal["ibp", "crown-ibp"]
BoundMethod = Literal["ibp", "crown", "best"]
Optimizer = Literal["adam", "sgd"]
Status = Literal["completed", "early_stopped", "diverged"]

OBJECTIVE_CONVENTION = "sum_k loss(f(x_k), y_k) + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)"
MINIBATCH_CONVENTION = (
    "mean_{k in B} loss_k + (beta / n) * weight_decay  (= objective estimate / n)"
)


# ---------------------------------------------------------------------------------------- record
@dataclass
class TrainingRecord:
    """What a baseline trainer did.

    Attributes:
        method: ``"sgd"``, ``"pgd-at"``, ``"fgsm-at"``, ``"ibp"`` or ``"crown-ibp"``.
        loss_history: per epoch, the criterion that was trained, in the project convention (sum over
            the epoch's samples of the loss on the points the model was trained on, i.e. the
            adversarial points for adversarial training, accumulated over the epoch's minibatches
            while the weights moved, plus ``beta * weight_decay`` at the end of the epoch).
        objective_history: per epoch, the exact full-data *nominal* objective at the epoch's end.
        objective: the exact full-data nominal objective of the returned network
            (``sum loss + beta * net.weight_decay()``), comparable with a convex optimum.
        robust_objective: adversarial training only: the same objective with every training point
            replaced by its PGD-perturbed version at the end of training (an attack-based estimate,
            i.e. a lower bound on the true worst case for the margin losses); ``None`` for SGD.
            Certified training (IBP / CROWN-IBP): a certified *upper* bound on the robust
            objective from :func:`margin_bounds` instead.
        train_accuracy: fraction of training points with ``y * f(x) > 0``.
        time: seconds spent in the training loop (final evaluation excluded).
        epochs_run: number of epochs actually run.
        settings: every hyperparameter, including the seed.
        status: ``"completed"``, ``"early_stopped"`` or ``"diverged"`` (a non-finite loss stopped
            training; the network and objective are then not meaningful).
        message: a human-readable sentence about the status.
        certified_train_accuracy: certified training (IBP / CROWN-IBP) only: fraction of training
            points whose sound lower bound on the worst-case margin at the full ``eps``
            (:func:`margin_bounds`, ``method="best"``) is ``> 0`` (a lower bound on the exact
            robust training accuracy); ``None`` for the other trainers.
    """

    method: str
    loss_history: list[float] = field(default_factory=list)
    objective_history: list[float] = field(default_factory=list)
    objective: float = math.nan
    robust_objective: float | None = None
    train_accuracy: float = math.nan
    time: float = 0.0
    epochs_run: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    message: str = ""
    certified_train_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (floats, ints, strings, lists, None)."""
        return {k: jsonable(v) for k, v in dataclasses.asdict(self).items()}


# ------------------------------------------------------------------------------------ validation
# _check_int / _check_float / _check_data live in robustbench_convex._checks (shared)


def _check_bounds(
    lower: Any, upper: Any, X: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-feature bounds as ``(d,)`` arrays (scalars broadcast), ``None`` meaning unbounded.

    Raises if ``lower > upper`` anywhere or if a training point lies outside the box."""
    d = X.shape[1]
    out: list[np.ndarray | None] = []
    for name, value in (("lower", lower), ("upper", upper)):
        if value is None:
            out.append(None)
            continue
        arr = np.array(_as_numpy(value), dtype=np.float64)  # a private copy
        if arr.ndim == 0:
            arr = np.full(d, float(arr))
        if arr.shape != (d,):
            raise ValueError(
                f"{name} must be a scalar or an array of shape ({d},) (one bound per feature), "
                f"got shape {arr.shape}"
            )
        if np.any(np.isnan(arr)):
            raise ValueError(f"{name} contains NaN values")
        out.append(arr)
    lo, hi = out
    if lo is not None and hi is not None and np.any(lo > hi):
        j = int(np.argmax(lo > hi))
        raise ValueError(
            f"lower must be <= upper for every feature; feature {j}: {lo[j]} > {hi[j]}"
        )
    scale = max(1.0, float(np.max(np.abs(X))))
    tol = 1e-9 * scale
    for name, arr, bad in (
        ("lower", lo, None if lo is None else X < lo - tol),
        ("upper", hi, None if hi is None else X > hi + tol),
    ):
        if bad is not None and np.any(bad):
            k, j = np.argwhere(bad)[0]
            raise ValueError(
                f"the bounds do not contain the data: X[{k}, {j}] = {X[k, j]!r} is outside {name} "
                f"= {arr[j]!r}; pass the data set's own bounds (dataset.lower, dataset.upper), "
                "or None for an unbounded side"
            )
    return lo, hi


def _bound_setting(value: Any) -> float | list[float] | None:
    """A bound as recorded in ``settings``: None, a float if all features share it, else a list."""
    if value is None:
        return None
    arr = _as_numpy(value).reshape(-1)
    if arr.size and np.all(arr == arr[0]):
        return float(arr[0])
    return arr.tolist()


def _derive_seed(seed: int, *path: int) -> int:
    """A reproducible 31-bit seed for the random choices at ``path`` (e.g. ``(epoch, batch)``)."""
    state = np.random.SeedSequence(entropy=seed, spawn_key=tuple(path)).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


# ------------------------------------------------------------------------------------- the loop
def _weight_decay_tensor(net: TwoLayerReLU) -> torch.Tensor:
    """Differentiable ``net.weight_decay()``: 1/2 * (||U||^2 + ||b||^2 + ||alpha||^2)."""
    total = net.hidden.weight.pow(2).sum() + net.output.weight.pow(2).sum()
    if net.hidden.bias is not None:
        total = total + net.hidden.bias.pow(2).sum()
    return 0.5 * total


def _full_objective(net: TwoLayerReLU, loss: str, beta: float, X: torch.Tensor, y: torch.Tensor):
    with torch.no_grad():
        value = loss_value(loss, net(X), y)
    return float(value) + beta * net.weight_decay()


@dataclass(frozen=True)
class _Scored:
    """The full training set (tensors ``X`` ``(n, d)``, ``y`` ``(n,)`` in {-1, +1}) and the
    objective every trainer reports on it: summed ``loss`` plus ``beta * weight_decay``."""

    X: torch.Tensor
    y: torch.Tensor
    loss: str
    beta: float

    def objective(self, net: TwoLayerReLU) -> float:
        return _full_objective(net, self.loss, self.beta, self.X, self.y)


AttackFactory = Callable[[int, int], Callable[..., torch.Tensor]]


def _network_and_optimizer(
    d: int,
    width: int,
    bias: bool,
    output_bias: bool,
    dtype: torch.dtype,
    device: torch.device,
    seed: int,
    optimizer: str,
    lr: float,
    momentum: float,
) -> tuple[TwoLayerReLU, torch.optim.Optimizer]:
    """The freshly initialized network (a local generator seeded by ``seed``, never torch's
    global RNG: cells trained in threads of one process would race on it) and its optimizer."""
    init_gen = torch.Generator(device="cpu").manual_seed(seed)
    net = TwoLayerReLU(
        d, width, bias=bias, output_bias=output_bias, dtype=dtype, device=device,
        generator=init_gen,
    )  # fmt: skip
    if optimizer == "adam":
        return net, torch.optim.Adam(net.parameters(), lr=lr)
    return net, torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)


def _record_epoch(
    record: TrainingRecord, net: TwoLayerReLU, data: _Scored, epoch_loss: float, epoch: int
) -> tuple[float, float]:
    """Append one epoch's full-data objective and trained criterion (summed batch losses plus
    ``beta * weight_decay``) to ``record``; returns ``(objective, trained)``."""
    objective = data.objective(net)
    trained = epoch_loss + data.beta * net.weight_decay()
    record.loss_history.append(trained)
    record.objective_history.append(objective)
    record.epochs_run = epoch + 1
    return objective, trained


def _diverged(
    record: TrainingRecord, objective: float, trained: float, epoch: int, lr: float, bar: Any
) -> bool:
    """After an epoch: show the objective on the progress ``bar`` (None: no bar) and, if the
    objective or the training criterion is not finite, mark ``record`` diverged (True)."""
    if bar is not None:
        bar.set_postfix(objective=f"{objective:.4g}")
    if math.isfinite(trained) and math.isfinite(objective):
        return False
    record.status = "diverged"
    record.message = f"non-finite loss at epoch {epoch + 1}; lower lr (now {lr:g})"
    return True


def _fit_settings(
    width: int,
    loss: str,
    beta: float,
    optimizer: str,
    lr: float,
    momentum: float,
    epochs: int,
    batch_size: int | None,
    seed: int,
) -> dict[str, Any]:
    """The optimisation entries of every trainer's ``TrainingRecord.settings``."""
    return {
        "width": width,
        "loss": loss,
        "weight_decay": beta,
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum if optimizer == "sgd" else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
    }


def _run_settings(
    bias: bool,
    output_bias: bool,
    dtype: torch.dtype,
    device: torch.device,
    num_threads: int | None,
    n: int,
    d: int,
) -> dict[str, Any]:
    """The network, device and data-size entries of every trainer's ``TrainingRecord.settings``."""
    return {
        "bias": bool(bias),
        "output_bias": bool(output_bias),
        "dtype": str(dtype).replace("torch.", ""),
        "device": str(device),
        "num_threads": num_threads if num_threads is not None else torch.get_num_threads(),
        "n_train": n,
        "n_features": d,
    }


class _Fit(NamedTuple):
    """The validated settings every back-propagation trainer shares (``weight_decay`` as
    ``beta``; ``batch``: the minibatch size, ``n`` for full batch)."""

    width: int
    loss: str
    beta: float
    epochs: int
    batch: int
    lr: float
    seed: int
    momentum: float
    num_threads: int | None
    device: torch.device


def _check_fit(n: int, arguments: dict[str, Any]) -> _Fit:
    """Check the shared training settings among a trainer's ``arguments`` (its ``locals()``)
    for ``n`` training points, before any work."""
    a = arguments
    width = _check_int("width", a["width"], 1)
    loss = check_loss(a["loss"])
    beta = _check_float("weight_decay", a["weight_decay"], positive=False)
    if a["optimizer"] not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {a['optimizer']!r}")
    epochs = _check_int("epochs", a["epochs"], 1)
    size = a["batch_size"]
    batch = n if size is None else min(_check_int("batch_size", size, 1), n)
    lr = _check_float("lr", a["lr"], positive=True)
    seed = _check_int("seed", a["seed"], 0)
    momentum = _check_float("momentum", a["momentum"], positive=False)
    threads = a["num_threads"]
    if threads is not None:
        threads = _check_int("num_threads", threads, 1)
    dtype = a["dtype"]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float64), got {dtype!r}")
    device = torch.device(a["device"])
    return _Fit(width, loss, beta, epochs, batch, lr, seed, momentum, threads, device)


def _train(
    method: Method,
    X: Any,
    y: Any,
    *,
    width: int,
    loss: str,
    weight_decay: float,
    optimizer: str,
    epochs: int,
    batch_size: int | None,
    lr: float,
    seed: int,
    device: torch.device | str,
    early_stopping: int | None,
    early_stopping_tol: float,
    momentum: float,
    bias: bool,
    output_bias: bool,
    dtype: torch.dtype,
    verbose: bool,
    num_threads: int | None = None,
    lower: Any = None,
    upper: Any = None,
    make_attack: Callable[[np.ndarray | None, np.ndarray | None], AttackFactory] | None = None,
    make_eval_attack: Callable[[np.ndarray | None, np.ndarray | None], Callable[..., Any]]
    | None = None,
    extra_settings: dict[str, Any] | None = None,
) -> tuple[TwoLayerReLU, TrainingRecord]:
    X_np, y_np = _check_data(X, y)
    n, d = X_np.shape
    fit = _check_fit(n, locals())
    width, loss, beta, epochs, batch, lr, seed, momentum, num_threads, device = fit
    if early_stopping is not None:
        early_stopping = _check_int("early_stopping", early_stopping, 1)
    early_stopping_tol = _check_float("early_stopping_tol", early_stopping_tol, positive=False)
    lo, hi = _check_bounds(lower, upper, X_np)
    attack_for = None if make_attack is None else make_attack(lo, hi)

    settings: dict[str, Any] = {
        "method": method,
        **_fit_settings(width, loss, beta, optimizer, lr, momentum, epochs, batch_size, seed),
        "early_stopping": early_stopping,
        "early_stopping_tol": early_stopping_tol,
        **_run_settings(bias, output_bias, dtype, device, num_threads, n, d),
        "objective_convention": OBJECTIVE_CONVENTION,
        "minibatch_objective": MINIBATCH_CONVENTION,
        "initialization": "PyTorch default (uniform +-1/sqrt(fan_in)), local generator(seed)",
        **(extra_settings or {}),
    }
    record = TrainingRecord(method=method, settings=settings)

    Xt = torch.as_tensor(X_np, dtype=dtype, device=device)
    yt = torch.as_tensor(y_np, dtype=dtype, device=device)
    scored = _Scored(Xt, yt, loss, beta)
    with torch_threads(num_threads):
        net, opt = _network_and_optimizer(
            d, width, bias, output_bias, dtype, device, seed, optimizer, lr, momentum
        )
        order_gen = torch.Generator().manual_seed(_derive_seed(seed, 1))

        best = math.inf
        stale = 0
        record.status, record.message = "completed", f"ran all {epochs} epochs"
        bar = tqdm(range(epochs), desc=method, disable=not verbose, leave=False)
        start = time.perf_counter()
        for epoch in bar:
            perm = torch.randperm(n, generator=order_gen) if batch < n else torch.arange(n)
            perm = perm.to(device)
            epoch_loss = 0.0
            for b, first in enumerate(range(0, n, batch)):
                idx = perm[first : first + batch]
                xb, yb = Xt[idx], yt[idx]
                if attack_for is not None:
                    xb = attack_for(epoch, b)(net, xb, yb).detach()
                net.train()
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_value(loss, net(xb), yb)
                criterion = batch_loss / idx.numel() + (beta / n) * _weight_decay_tensor(net)
                criterion.backward()
                opt.step()
                epoch_loss += float(batch_loss.detach())
                if not math.isfinite(epoch_loss):
                    break  # diverged: reported below, before any attack sees NaN weights
            objective, trained = _record_epoch(record, net, scored, epoch_loss, epoch)
            if _diverged(record, objective, trained, epoch, lr, bar if verbose else None):
                break
            if early_stopping is not None:
                monitored = objective if attack_for is None else trained
                if best == math.inf or monitored < best - early_stopping_tol * max(1.0, abs(best)):
                    best, stale = monitored, 0
                else:
                    stale += 1
                    if stale >= early_stopping:
                        record.status = "early_stopped"
                        record.message = (
                            f"no relative improvement above {early_stopping_tol:g} of the "
                            f"{'objective' if attack_for is None else 'training criterion'} "
                            f"for {early_stopping} epochs; stopped at epoch {epoch + 1}"
                        )
                        break
        record.time = time.perf_counter() - start
        bar.close()
        net.eval()

        record.objective = scored.objective(net)
        with torch.no_grad():
            record.train_accuracy = float((yt * net(Xt) > 0).double().mean())
        if make_eval_attack is not None and record.status != "diverged":
            x_adv = make_eval_attack(lo, hi)(net, Xt, yt).detach()
            record.robust_objective = _full_objective(net, loss, beta, x_adv, yt)
    return net, record


# ------------------------------------------------------------------------------ public trainers
def train_sgd(
    X: Any,
    y: Any,
    *,
    width: int = 64,
    loss: LossName = "logistic",
    weight_decay: float = 1e-3,
    optimizer: Optimizer = "adam",
    epochs: int = 200,
    batch_size: int | None = None,
    lr: float = 1e-2,
    seed: int = 0,
    device: torch.device | str = "cpu",
    early_stopping: int | None = None,
    early_stopping_tol: float = 1e-6,
    momentum: float = 0.9,
    bias: bool = True,
    output_bias: bool = False,
    dtype: torch.dtype = torch.float64,
    verbose: bool = False,
    num_threads: int | None = None,
) -> tuple[TwoLayerReLU, TrainingRecord]:
    """Train a one-hidden-layer ReLU network by back-propagation (Adam or SGD with momentum).

    Args:
        X: training inputs, shape ``(n, d)``, finite.
        y: labels in {-1, +1}, shape ``(n,)`` ({0, 1} labels are rejected: pass ``2 * y - 1``).
        width: number of hidden neurons ``m >= 1``.
        loss: ``"squared"``, ``"hinge"`` or ``"logistic"`` (:mod:`robustbench_convex.losses`).
        weight_decay: ``beta >= 0`` of the objective
            ``sum_k loss_k + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``.
        optimizer: ``"adam"`` or ``"sgd"`` (heavy-ball ``momentum``, default 0.9).
        epochs: maximum number of passes over the data.
        batch_size: minibatch size (``None``: full batch). Each step minimizes
            ``mean_{k in B} loss_k + (beta/n) * weight_decay`` (``1/n`` times an unbiased estimate
            of the objective; see the module docstring).
        lr: learning rate (on that mean-loss scale).
        seed: seeds the initialization and the minibatch order.
        device: torch device; the returned network lives there.
        early_stopping: patience in epochs (``None``: off). Training stops when the full-data
            objective has not decreased by more than ``early_stopping_tol`` (relative, at least
            absolute ``early_stopping_tol``) for that many epochs. The last iterate is returned.
        bias, output_bias: hidden biases (default on) and output bias ``c`` (default off, the
            convex programs' model class).
        dtype: parameter dtype (float64 by default).
        verbose: show a progress bar over epochs.
        num_threads: torch intra-op threads during the call (``None`` leaves torch's setting;
            otherwise it is set for the call and restored afterwards). ``1`` is usually fastest
            for these small networks and avoids oversubscription when several trainings run in
            parallel processes (measured on a loaded 2-core machine: digits PGD-AT plus standard
            training and their evaluation took 265 s with 2 threads, 8.8 s with 1).

    Returns:
        ``(network, record)``: a :class:`TwoLayerReLU` and a :class:`TrainingRecord` whose
        ``objective`` is the exact full-data objective above.
    """
    return _train(
        "sgd",
        X,
        y,
        **_training_settings(locals()),
    )


def _training_defaults() -> dict[str, Any]:
    """:func:`train_sgd`'s keywords and their defaults: the settings every back-propagation
    trainer passes through to ``_train`` unchanged (declared once, in its signature)."""
    return {
        name: p.default
        for name, p in inspect.signature(train_sgd).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _training_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    """The training settings among a public trainer's arguments (its ``locals()``)."""
    return {name: arguments[name] for name in _training_defaults()}


def _import_attacks():
    import attacks

    return attacks


def _check_attack_args(eps: Any, steps: Any, step_size: Any) -> tuple[float, int, float | None]:
    eps = _check_float("eps", eps, positive=False)
    steps = _check_int("steps", steps, 1)
    if step_size is not None:
        step_size = _check_float("step_size", step_size, positive=True)
    return eps, steps, step_size


def _eval_attack_factory(eps: float, steps: int, seed: int):
    """PGD used to estimate the robust training objective at the end of training."""
    attacks = _import_attacks()

    def make(lo, hi):
        return attacks.PGD(
            eps,
            steps=steps,
            step_size=2.5 * eps / steps,
            restarts=1,
            random_start=True,
            lower=lo,
            upper=hi,
            seed=_derive_seed(seed, 3),
        )

    return make


def _public_trainer(
    impl: Callable[..., tuple[TwoLayerReLU, TrainingRecord]],
    method: str,
    name: str,
    doc: str,
    *,
    extends: Callable[..., Any] | None = None,
    without: tuple[str, ...] = (),
    fixed: dict[str, Any] | None = None,
) -> Callable[..., tuple[TwoLayerReLU, TrainingRecord]]:
    """The public trainer ``name``: ``impl(method, X, y, **keywords)`` with the ``fixed``
    keywords bound. Its signature (``inspect.signature``, ``help``) is ``impl``'s less
    ``method`` and ``fixed``, followed, when ``impl`` takes ``**training``, by the keywords of
    ``extends`` (:func:`train_sgd`: the settings every trainer shares) less ``without``, so each
    keyword, type and default is written once; a keyword outside it raises the usual
    TypeError."""
    fixed = dict(fixed or {})
    own = [
        p
        for n, p in inspect.signature(impl).parameters.items()
        if n != "method" and n not in fixed and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    shared = [] if extends is None else list(inspect.signature(extends).parameters.values())
    taken = {p.name for p in own} | set(without)
    signature = inspect.signature(impl).replace(
        parameters=own + [p for p in shared if p.kind is p.KEYWORD_ONLY and p.name not in taken]
    )

    def trainer(*args: Any, **kwargs: Any) -> tuple[TwoLayerReLU, TrainingRecord]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}() {exc}") from None
        return impl(method, *bound.args, **bound.kwargs, **fixed)

    trainer.__signature__ = signature  # type: ignore[attr-defined]
    trainer.__name__ = trainer.__qualname__ = name
    trainer.__module__ = __name__
    trainer.__doc__ = doc
    return trainer


_PGD_AT_DOC = """PGD adversarial training (Madry et al.): every minibatch is replaced by its L-inf PGD
    perturbation (``attacks.PGD``, random start, ``steps`` steps of size ``step_size``, default
    ``2.5 * eps / steps``, clipped to ``[lower, upper]``) before the gradient step on

        sum_k loss(f(x_k + delta_k), y_k) + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2).

    The attack maximizes the negative margin ``-y f(x)``: for the hinge and logistic losses this
    is the worst case of the loss; for the squared loss it is the usual margin attack, not the
    exact maximizer of the loss. The shared PGD returns, per example, the lowest-margin iterate it
    has seen (Madry et al. use the last one; for the margin losses this is never a weaker inner
    maximization). The random start of each attack call is seeded from ``(seed, epoch, batch)``.

    Args:
        eps: L-inf radius ``>= 0`` in the units of ``X``.
        steps: PGD steps (``>= 1``); step_size: PGD step (``> 0``; default ``2.5 * eps / steps``).
        lower, upper: input bounds (scalars or ``(d,)`` arrays; ``None``: unbounded); they must
            contain every training point.
        eval_steps: PGD steps of the attack that estimates ``record.robust_objective`` at the end.
        Other arguments: as in :func:`train_sgd` (early stopping monitors the adversarial training
        criterion ``record.loss_history``).

    Returns:
        ``(network, record)``; ``record.objective`` is the nominal full-data objective and
        ``record.robust_objective`` the objective at PGD-perturbed training points.
    """

_FGSM_AT_DOC = """Fast FGSM adversarial training with a random start (Wong, Rice & Kolter, 2020).

    Each minibatch point starts at a uniform random point of the L-inf ``eps``-ball, takes one
    signed-gradient step of size ``step_size`` (default ``1.25 * eps``, the paper's alpha), and is
    projected back onto the ball and the box ``[lower, upper]``. That is exactly one step of PGD
    with a random start, so it is run as ``attacks.PGD(eps, steps=1, step_size=step_size,
    random_start=True)`` of the shared attack module. One difference from the paper: the shared
    PGD keeps, per example, the lowest-margin point it has seen (the clean point, the random start
    or the stepped point), where Wong et al. always train on the stepped point; the inner attack
    is therefore never weaker. Arguments and return value as in :func:`train_pgd_at` (without
    ``steps``); ``record.robust_objective`` is estimated with a ``eval_steps``-step PGD (not with
    FGSM), so FGSM-AT and PGD-AT records compare directly.
    """


AdversarialMethod = Literal["pgd-at", "fgsm-at"]


def _train_adversarial(
    method: AdversarialMethod,
    X: Any,
    y: Any,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    lower: Any = None,
    upper: Any = None,
    eval_steps: int = 20,
    **training: Any,
) -> tuple[TwoLayerReLU, TrainingRecord]:
    """The one implementation behind ``train_pgd_at`` and ``train_fgsm_at`` (FGSM-AT: ``steps``
    fixed at 1): ``_train`` with every minibatch replaced by its ``attacks.PGD(eps, steps,
    step_size)`` perturbation (random start seeded from ``(seed, epoch, batch)``; default step
    ``2.5 * eps / steps`` for PGD-AT, Wong et al.'s ``1.25 * eps`` for FGSM-AT) and the robust
    objective estimated at the end by an ``eval_steps``-step PGD. ``training``: the keywords of
    :func:`train_sgd` (their defaults are there)."""
    training = {**_training_defaults(), **training}
    eps, steps, step_size = _check_attack_args(eps, steps, step_size)
    eval_steps = _check_int("eval_steps", eval_steps, 1)
    seed = _check_int("seed", training["seed"], 0)
    if method == "fgsm-at":
        size = 1.25 * eps if step_size is None else step_size
        inner = (
            f"attacks.PGD(eps={eps:g}, steps=1, step_size={size:g}, random_start=True)  "
            "(= FGSM with random start)"
        )
    else:
        size = 2.5 * eps / steps if step_size is None else step_size
        inner = f"attacks.PGD(eps={eps:g}, steps={steps}, step_size={size:g}, random_start=True)"
    attacks = _import_attacks()

    def make_attack(lo, hi):
        def attack_for(epoch: int, batch: int):
            return attacks.PGD(
                eps,
                steps=steps,
                step_size=size,
                restarts=1,
                random_start=True,
                lower=lo,
                upper=hi,
                seed=_derive_seed(seed, 2, epoch, batch),
            )

        return attack_for

    extra = {
        "eps": eps,
        "norm": "inf",
        "steps": steps,
        "step_size": size,
        "lower": _bound_setting(lower),
        "upper": _bound_setting(upper),
        "inner_attack": inner,
        "eval_attack": f"attacks.PGD(eps={eps:g}, steps={eval_steps}, "
        f"step_size={2.5 * eps / eval_steps:g}, random_start=True)",
    }
    return _train(
        method,
        X,
        y,
        lower=lower,
        upper=upper,
        make_attack=make_attack,
        make_eval_attack=_eval_attack_factory(eps, eval_steps, seed),
        extra_settings=extra,
        **training,
    )


train_pgd_at = _public_trainer(
    _train_adversarial, "pgd-at", "train_pgd_at", _PGD_AT_DOC, extends=train_sgd
)
train_fgsm_at = _public_trainer(
    _train_adversarial,
    "fgsm-at",
    "train_fgsm_at",
    _FGSM_AT_DOC,
    extends=train_sgd,
    fixed={"steps": 1},
)


# ---------------------------------------------------------------------------- certified training
def _input_box(
    x: torch.Tensor, eps: float, lo: torch.Tensor | None, hi: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Center and radius ``(N, d)`` of the threat set ``{x' : ||x' - x||_inf <= eps}`` clipped to
    ``[lo, hi]`` (a box, so the clipping is exact)."""
    xl, xu = x - eps, x + eps
    if lo is not None:
        xl = torch.maximum(xl, lo)
    if hi is not None:
        xu = torch.minimum(xu, hi)
    return 0.5 * (xu + xl), 0.5 * (xu - xl)


def _preactivation_bounds(
    net: TwoLayerReLU, center: torch.Tensor, radius: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact bounds ``(N, m)`` of ``u_j^T x' + b_j`` over the box (one hidden layer: the interval
    of a linear function over a box is attained, so IBP is exact here)."""
    weight = net.hidden.weight
    mid = center @ weight.T
    if net.hidden.bias is not None:
        mid = mid + net.hidden.bias
    spread = radius @ weight.abs().T
    return mid - spread, mid + spread


def _ibp_margin(
    a: torch.Tensor, pre_lo: torch.Tensor, pre_hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval bounds on ``sum_j a_j relu(z_j)`` with ``z_j`` in ``[pre_lo, pre_hi]``: every
    neuron at its own worst (best) end independently."""
    h_lo, h_hi = torch.relu(pre_lo), torch.relu(pre_hi)
    a_pos, a_neg = a.clamp(min=0), a.clamp(max=0)
    return (a_pos * h_lo + a_neg * h_hi).sum(1), (a_pos * h_hi + a_neg * h_lo).sum(1)


def _relu_relaxation(
    pre_lo: torch.Tensor, pre_hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CROWN's linear relaxation of ``relu`` on ``[l, u]``: ``s_lo z <= relu(z) <= s_hi z + t_hi``.

    Stable neurons are exact (slopes 1 or 0); an unstable one (``l < 0 < u``) gets the chord
    ``u (z - l) / (u - l)`` above and the adaptive slope ``1[u >= -l]`` below (Zhang et al., 2018).
    The slope choices are piecewise constant (no gradient flows through them)."""
    active = pre_lo >= 0
    unstable = (pre_lo < 0) & (pre_hi > 0)
    width = torch.where(unstable, pre_hi - pre_lo, torch.ones_like(pre_hi))
    chord = torch.where(unstable, pre_hi / width, active.to(pre_hi.dtype))
    offset = torch.where(unstable, -chord * pre_lo, torch.zeros_like(pre_lo))
    lower_slope = torch.where(
        unstable, (pre_hi >= -pre_lo).to(pre_hi.dtype), active.to(pre_hi.dtype)
    )
    return lower_slope.detach(), chord, offset


def _crown_margin(
    net: TwoLayerReLU,
    a: torch.Tensor,
    center: torch.Tensor,
    radius: torch.Tensor,
    pre_lo: torch.Tensor,
    pre_hi: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CROWN bounds on ``sum_j a_j relu(u_j^T x' + b_j)`` over the box: every ``relu`` replaced by
    the linear relaxation that bounds the term from the needed side, then the resulting linear
    function of ``x'`` minimized (maximized) over the box in closed form."""
    s_lo, s_hi, t_hi = _relu_relaxation(pre_lo, pre_hi)
    weight = net.hidden.weight
    bias = net.hidden.bias
    out = []
    for sign in (1.0, -1.0):  # lower bound of a.relu(z), then lower bound of -a.relu(z)
        coef = sign * a
        slope = torch.where(coef >= 0, s_lo, s_hi)  # (N, m)
        const = torch.where(coef >= 0, torch.zeros_like(t_hi), t_hi)
        lam = coef * slope
        g = lam @ weight  # (N, d)
        value = (g * center).sum(1) - (g.abs() * radius).sum(1) + (coef * const).sum(1)
        if bias is not None:
            value = value + lam @ bias
        out.append(sign * value)
    return out[0], out[1]


def _margin_bounds_tensor(
    net: TwoLayerReLU,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    lo: torch.Tensor | None,
    hi: torch.Tensor | None,
    method: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable ``(lower, upper)`` bounds ``(N,)`` on the margin ``y f(x')`` over the threat
    set (see :func:`margin_bounds`)."""
    center, radius = _input_box(x, eps, lo, hi)
    pre_lo, pre_hi = _preactivation_bounds(net, center, radius)
    a = y[:, None] * net.output.weight[0][None, :]  # (N, m): y_k alpha_j
    if method == "ibp":
        lower, upper = _ibp_margin(a, pre_lo, pre_hi)
    elif method == "crown":
        lower, upper = _crown_margin(net, a, center, radius, pre_lo, pre_hi)
    else:  # "best": both are sound, so their intersection is too
        il, iu = _ibp_margin(a, pre_lo, pre_hi)
        cl, cu = _crown_margin(net, a, center, radius, pre_lo, pre_hi)
        lower, upper = torch.maximum(il, cl), torch.minimum(iu, cu)
    if net.output.bias is not None:
        lower = lower + y * net.output.bias
        upper = upper + y * net.output.bias
    return lower, upper


def margin_bounds(
    net: TwoLayerReLU,
    X: Any,
    y: Any,
    eps: float,
    lower: Any = None,
    upper: Any = None,
    *,
    method: BoundMethod = "best",
) -> tuple[np.ndarray, np.ndarray]:
    """Sound bounds on the worst-case and best-case margin of a :class:`TwoLayerReLU` over the
    L-inf ball (clipped to the input bounds), per example.

    For ``x'`` with ``||x' - x_k||_inf <= eps`` and ``lower <= x' <= upper`` the returned arrays
    satisfy ``lo_k <= y_k f(x') <= hi_k``. The hidden pre-activations' intervals are exact (one
    hidden layer); the output layer is bounded by

    * ``"ibp"``: interval arithmetic, each neuron at its own worst end (Gowal et al., 2018);
    * ``"crown"``: CROWN's linear relaxation of each unstable ``relu`` (chord above, adaptive
      slope below), minimized over the box in closed form (Zhang et al., 2018/2020); the
      intermediate bounds are exact, so this is also what CROWN-IBP computes for this network;
    * ``"best"``: the tighter of the two per example (both are sound).

    Both are at most the LP (triangle) relaxation bound of ``attacks.lp_certify``, which is at
    most the exact worst case of ``attacks.exact``.

    Args:
        net: the network; X: inputs ``(N, d)``; y: labels ``(N,)`` in {-1, +1}.
        eps: L-inf radius ``>= 0`` (input units); lower, upper: input bounds (scalars, ``(d,)``
            arrays or None).
        method: ``"ibp"``, ``"crown"`` or ``"best"``.

    Returns:
        ``(lo, hi)``, float64 arrays of shape ``(N,)``.
    """
    if not isinstance(net, TwoLayerReLU):
        raise TypeError(f"net must be a TwoLayerReLU, got {type(net).__name__}")
    if method not in ("ibp", "crown", "best"):
        raise ValueError(f"method must be 'ibp', 'crown' or 'best', got {method!r}")
    eps = _check_float("eps", eps, positive=False)
    X_np, y_np = _check_data(X, y)
    if X_np.shape[1] != net.in_features:
        raise ValueError(f"X has {X_np.shape[1]} features but the network has {net.in_features}")
    lo, hi = _check_bounds(lower, upper, X_np)
    param = net.hidden.weight
    as_t = partial(torch.as_tensor, dtype=param.dtype, device=param.device)
    with torch.no_grad():
        lo_b, hi_b = _margin_bounds_tensor(
            net,
            as_t(X_np),
            as_t(y_np),
            eps,
            None if lo is None else as_t(lo),
            None if hi is None else as_t(hi),
            method,
        )
    return lo_b.cpu().numpy().astype(np.float64), hi_b.cpu().numpy().astype(np.float64)


def _margin_loss(loss: str, margin: torch.Tensor) -> torch.Tensor:
    """Per-example loss as a function of the margin ``m = y f(x)`` (labels +-1, so the squared
    loss ``(f - y)^2 / 2 = (m - 1)^2 / 2``)."""
    if loss == "squared":
        return 0.5 * (margin - 1.0) ** 2
    if loss == "hinge":
        return torch.relu(1.0 - margin)
    return torch.nn.functional.softplus(-margin)


def _worst_case_loss(loss: str, m_lo: torch.Tensor, m_hi: torch.Tensor) -> torch.Tensor:
    """Per-example upper bound on ``max loss(y f(x'))`` over the threat set from margin bounds:
    margin losses are non-increasing (the lower end is the worst); the squared loss is convex in
    the margin (the worse of the two ends)."""
    if loss == "squared":
        return torch.maximum(_margin_loss(loss, m_lo), _margin_loss(loss, m_hi))
    return _margin_loss(loss, m_lo)


@dataclass(frozen=True)
class _Schedule:
    """Linear ramps over optimizer steps: ``warmup`` steps at the start values, then ``ramp``
    steps of linear change, then the end values."""

    warmup: int
    ramp: int

    def progress(self, step: int) -> float:
        if step < self.warmup:
            return 0.0
        if self.ramp <= 0:
            return 1.0
        return min(1.0, (step - self.warmup + 1) / self.ramp)


def _train_certified(
    method: CertifiedMethod,
    X: Any,
    y: Any,
    *,
    eps: float,
    lower: Any = None,
    upper: Any = None,
    warmup_fraction: float = 0.0,
    ramp_fraction: float = 0.5,
    kappa_start: float = 1.0,
    kappa_end: float = 0.5,
    crown_weight_start: float = 1.0,
    crown_weight_end: float = 0.0,
    **training: Any,
) -> tuple[TwoLayerReLU, TrainingRecord]:
    """The one implementation of :func:`train_ibp` and :func:`train_crown_ibp`: validation
    first, then the training loop. ``training``: the keywords of :func:`train_sgd` but early
    stopping (their defaults are there)."""
    eps = _check_float("eps", eps, positive=False)
    X_np, y_np = _check_data(X, y)
    n, d = X_np.shape
    shared = {**_training_defaults(), **training}
    fit = _check_fit(n, shared)
    width, loss, beta, epochs, batch, lr, seed, momentum, num_threads, device = fit
    optimizer, batch_size, bias, output_bias, dtype, verbose = (
        shared[k] for k in ("optimizer", "batch_size", "bias", "output_bias", "dtype", "verbose")
    )
    warmup_fraction = _check_fraction("warmup_fraction", warmup_fraction)
    ramp_fraction = _check_fraction("ramp_fraction", ramp_fraction)
    if warmup_fraction + ramp_fraction > 1:
        raise ValueError(
            f"warmup_fraction + ramp_fraction must be <= 1 (the schedule must end within the "
            f"epochs), got {warmup_fraction} + {ramp_fraction}"
        )
    kappa_start = _check_fraction("kappa_start", kappa_start)
    kappa_end = _check_fraction("kappa_end", kappa_end)
    crown_weight_start = _check_fraction("crown_weight_start", crown_weight_start)
    crown_weight_end = _check_fraction("crown_weight_end", crown_weight_end)
    lo, hi = _check_bounds(lower, upper, X_np)

    steps_per_epoch = math.ceil(n / batch)
    total = epochs * steps_per_epoch
    schedule = _Schedule(round(warmup_fraction * total), round(ramp_fraction * total))
    settings = _certified_settings(
        method,
        eps=eps,
        lower=lower,
        upper=upper,
        fit=_fit_settings(width, loss, beta, optimizer, lr, momentum, epochs, batch_size, seed),
        run=_run_settings(bias, output_bias, dtype, device, num_threads, n, d),
        warmup_fraction=warmup_fraction,
        ramp_fraction=ramp_fraction,
        kappa_start=kappa_start,
        kappa_end=kappa_end,
        crown_weight_start=crown_weight_start,
        crown_weight_end=crown_weight_end,
    )
    record = TrainingRecord(method=method, settings=settings)

    as_t = partial(torch.as_tensor, dtype=dtype, device=device)
    Xt, yt = as_t(X_np), as_t(y_np)
    scored = _Scored(Xt, yt, loss, beta)
    lo_t = None if lo is None else as_t(lo)
    hi_t = None if hi is None else as_t(hi)
    with torch_threads(num_threads):
        net, opt = _network_and_optimizer(
            d, width, bias, output_bias, dtype, device, seed, optimizer, lr, momentum
        )
        order_gen = torch.Generator().manual_seed(_derive_seed(seed, 1))
        record.status, record.message = "completed", f"ran all {epochs} epochs"
        bar = tqdm(range(epochs), desc=method, disable=not verbose, leave=False)
        step = 0
        start = time.perf_counter()
        for epoch in bar:
            perm = torch.randperm(n, generator=order_gen) if batch < n else torch.arange(n)
            perm = perm.to(device)
            epoch_loss = 0.0
            for first in range(0, n, batch):
                idx = perm[first : first + batch]
                xb, yb = Xt[idx], yt[idx]
                t = schedule.progress(step)
                eps_t = eps * t
                kappa = kappa_start + (kappa_end - kappa_start) * t
                net.train()
                opt.zero_grad(set_to_none=True)
                mix = crown_weight_start + (crown_weight_end - crown_weight_start) * t
                per_point = _certified_per_point_loss(
                    method, net, loss, xb, yb, eps_t, kappa, mix, lo_t, hi_t
                )
                batch_loss = per_point.sum()
                criterion = batch_loss / idx.numel() + (beta / n) * _weight_decay_tensor(net)
                criterion.backward()
                opt.step()
                step += 1
                epoch_loss += float(batch_loss.detach())
                if not math.isfinite(epoch_loss):
                    break
            objective, trained = _record_epoch(record, net, scored, epoch_loss, epoch)
            if _diverged(record, objective, trained, epoch, lr, bar if verbose else None):
                break
        record.time = time.perf_counter() - start
        bar.close()
        net.eval()

        _record_certified_result(record, net, scored, eps, lo_t, hi_t)
    return net, record


def _certified_settings(
    method: CertifiedMethod,
    *,
    eps: float,
    lower: Any,
    upper: Any,
    fit: dict[str, Any],
    run: dict[str, Any],
    warmup_fraction: float,
    ramp_fraction: float,
    kappa_start: float,
    kappa_end: float,
    crown_weight_start: float,
    crown_weight_end: float,
) -> dict[str, Any]:
    """The ``TrainingRecord.settings`` of :func:`_train_certified` (validated values)."""
    settings: dict[str, Any] = {
        "method": method,
        "eps": eps,
        "norm": "inf",
        "lower": _bound_setting(lower),
        "upper": _bound_setting(upper),
        **fit,
        **run,
        "warmup_fraction": warmup_fraction,
        "ramp_fraction": ramp_fraction,
        "kappa_start": kappa_start,
        "kappa_end": kappa_end,
        "bound": "interval (IBP)" if method == "ibp" else "CROWN-IBP mixture",
        "criterion": (
            "mean_B [kappa * loss(y f(x)) + (1 - kappa) * worst-case loss from the margin bound "
            "at eps_t] + (beta / n) * weight_decay; eps_t ramps 0 -> eps and kappa "
            "kappa_start -> kappa_end linearly over ramp_fraction of the steps after "
            "warmup_fraction"
        ),
        "objective_convention": OBJECTIVE_CONVENTION,
        "initialization": "PyTorch default (uniform +-1/sqrt(fan_in)), local generator(seed)",
    }
    if method == "crown-ibp":
        settings["crown_weight_start"] = crown_weight_start
        settings["crown_weight_end"] = crown_weight_end
    return settings


def _certified_per_point_loss(
    method: CertifiedMethod,
    net: TwoLayerReLU,
    loss: str,
    xb: torch.Tensor,
    yb: torch.Tensor,
    eps_t: float,
    kappa: float,
    mix: float,
    lo_t: torch.Tensor | None,
    hi_t: torch.Tensor | None,
) -> torch.Tensor:
    """One batch's per-point training loss of :func:`_train_certified`, ``(batch,)``:
    ``kappa * loss(y f(x)) + (1 - kappa) * L_worst`` with ``L_worst`` the loss at the margin's
    lower bound over the ``eps_t``-ball (IBP, or for CROWN-IBP the mixture ``mix * CROWN +
    (1 - mix) * IBP``); the natural loss alone at ``eps_t = 0`` or ``kappa = 1``."""
    natural = _margin_loss(loss, yb * net(xb))
    if eps_t <= 0 or kappa >= 1:
        return natural
    m_lo, m_hi = _margin_bounds_tensor(net, xb, yb, eps_t, lo_t, hi_t, "ibp")
    if method == "crown-ibp":
        c_lo, c_hi = _margin_bounds_tensor(net, xb, yb, eps_t, lo_t, hi_t, "crown")
        m_lo = mix * c_lo + (1 - mix) * m_lo
        m_hi = mix * c_hi + (1 - mix) * m_hi
    robust = _worst_case_loss(loss, m_lo, m_hi)
    return kappa * natural + (1 - kappa) * robust


def _record_certified_result(
    record: TrainingRecord,
    net: TwoLayerReLU,
    data: _Scored,
    eps: float,
    lo_t: torch.Tensor | None,
    hi_t: torch.Tensor | None,
) -> None:
    """Fill the trained network's full-data objective and training accuracy into ``record``
    and, unless it diverged, the certified robust objective and certified training accuracy at
    the full ``eps`` (:func:`margin_bounds` ``"best"``)."""
    Xt, yt = data.X, data.y
    record.objective = data.objective(net)
    with torch.no_grad():
        record.train_accuracy = float((yt * net(Xt) > 0).double().mean())
        if record.status != "diverged":
            m_lo, m_hi = _margin_bounds_tensor(net, Xt, yt, eps, lo_t, hi_t, "best")
            worst = float(_worst_case_loss(data.loss, m_lo, m_hi).sum())
            record.robust_objective = worst + data.beta * net.weight_decay()
            record.certified_train_accuracy = float((m_lo > 0).double().mean())


_CERTIFIED_ARGS_DOC = """
    Args:
        X: training inputs ``(n, d)``; y: labels ``(n,)`` in {-1, +1}.
        eps: L-inf training radius ``>= 0`` in the units of ``X``.
        lower, upper: input bounds (scalars or ``(d,)`` arrays; ``None``: unbounded); the threat
            set is the eps-ball clipped to them (they must contain every training point).
        warmup_fraction: fraction of the optimizer steps trained nominally (eps 0) first.
        ramp_fraction: fraction of the steps over which eps grows linearly from 0 to ``eps`` and
            ``kappa`` moves from ``kappa_start`` to ``kappa_end`` (default: the first half).
        kappa_start, kappa_end: weight of the natural loss in
            ``kappa * loss(y f(x)) + (1 - kappa) * worst-case loss from the bound``.
        Other arguments: as in :func:`train_pgd_at` (``early_stopping`` does not apply: the
        criterion changes along the schedule).

    Returns:
        ``(network, record)``: ``record.objective`` is the nominal full-data objective;
        ``record.robust_objective`` is a *certified* upper bound on the robust objective
        ``sum_k max_{x'} loss(f(x'), y_k) + beta * weight_decay`` at the full ``eps`` (from
        :func:`margin_bounds` ``method="best"``, not from an attack), and
        ``record.certified_train_accuracy`` the fraction of training points certified robust by
        the same bound.
"""


_IBP_DOC = """Certified training by interval bound propagation (Gowal et al., 2018).

    Every step minimizes ``mean_B [kappa * loss(y f(x)) + (1 - kappa) * L_worst] + (beta / n) *
    weight_decay``, where ``L_worst`` is the loss at the IBP lower bound of the margin over the
    eps_t-ball (for the squared loss: the worse end of the IBP margin interval), with eps_t and
    kappa on linear schedules (Gowal et al.: kappa 1 -> 0.5, eps ramped from 0). For one hidden
    layer the pre-activation intervals are exact; only the output layer is relaxed. The
    network, conventions and objective are those of :func:`train_pgd_at`. At ``eps = 0`` (or
    ``kappa_start = kappa_end = 1``) this is :func:`train_sgd` step for step.
"""

_CROWN_IBP_DOC = """Certified training by CROWN-IBP (Zhang et al., 2020).

    As :func:`train_ibp`, with the margin's lower bound replaced by the mixture
    ``w * CROWN + (1 - w) * IBP`` (``w`` ramps from ``crown_weight_start`` to
    ``crown_weight_end`` with the eps schedule: Zhang et al.'s beta, 1 -> 0 by default). CROWN-IBP
    computes intermediate bounds by IBP and the last layer by CROWN; with one hidden layer the
    intermediate (pre-activation) intervals are exact, so the CROWN part is CROWN on the output
    layer with the chord / adaptive-slope ``relu`` relaxation (:func:`margin_bounds`). At
    ``eps = 0`` this is :func:`train_sgd` step for step. ``crown_weight_start`` and
    ``crown_weight_end`` are the CROWN weight ``w`` at the start and end of the ramp (both in
    [0, 1]; ``1, 1`` trains on the CROWN bound throughout).
"""


_NO_EARLY_STOPPING = ("early_stopping", "early_stopping_tol")  # the criterion moves with eps_t
train_ibp = _public_trainer(
    _train_certified,
    "ibp",
    "train_ibp",
    _IBP_DOC + _CERTIFIED_ARGS_DOC,
    extends=train_sgd,
    without=_NO_EARLY_STOPPING,
    fixed={"crown_weight_start": 0.0, "crown_weight_end": 0.0},
)
train_crown_ibp = _public_trainer(
    _train_certified,
    "crown-ibp",
    "train_crown_ibp",
    _CROWN_IBP_DOC + _CERTIFIED_ARGS_DOC,
    extends=train_sgd,
    without=_NO_EARLY_STOPPING,
)


# ---------------------------------------------------------------------------------- multi-start
def multi_start(
    train_fn: Callable[..., tuple[TwoLayerReLU, TrainingRecord]],
    X: Any,
    y: Any,
    *,
    seeds: Iterable[int] | int,
    X_test: Any = None,
    y_test: Any = None,
    attack: Callable[..., Any] | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Run ``train_fn(X, y, seed=s, **kwargs)`` for every seed and tabulate the outcomes.

    Back-propagation's result depends on the initialization; this gives the distribution of final
    objectives and accuracies over seeds (e.g. to set against a convex global optimum).

    Args:
        train_fn: :func:`train_sgd`, :func:`train_pgd_at`, :func:`train_fgsm_at`, or any callable
            with the same signature and return value.
        seeds: the seeds, or an int ``N`` meaning seeds ``0..N-1``.
        X_test, y_test: optional test set for ``test_acc`` (and ``robust_test_acc``).
        attack: optional attack ``attack(model, x, y) -> x_adv`` (e.g. ``attacks.PGD(...)``)
            used for ``robust_test_acc`` on the test set (required: ``X_test``).
        progress: show a progress bar over seeds.
        kwargs: passed to ``train_fn`` (e.g. ``width``, ``loss``, ``eps``, ``verbose``).

    Returns:
        A DataFrame with one row per seed and columns ``seed, method, objective,
        robust_objective, train_acc, test_acc, robust_test_acc, n_active, time, epochs_run,
        status`` (``NaN`` where not applicable).
    """
    seed_list: Sequence[int] = (
        list(range(_check_int("seeds", seeds, 1)))
        if isinstance(seeds, (int, np.integer))
        else [_check_int("seed", s, 0) for s in seeds]
    )
    if not seed_list:
        raise ValueError("seeds must contain at least one seed")
    if (X_test is None) != (y_test is None):
        raise ValueError("pass both X_test and y_test, or neither")
    if X_test is not None:
        X_test, y_test = _check_data(X_test, y_test, x_name="X_test", y_name="y_test")
    if attack is not None and X_test is None:
        raise ValueError("attack needs a test set: pass X_test and y_test")

    import pandas as pd

    rows = []
    for s in tqdm(seed_list, desc="seeds", disable=not progress, leave=False):
        net, rec = train_fn(X, y, seed=s, **kwargs)
        row: dict[str, Any] = {
            "seed": s,
            "method": rec.method,
            "objective": rec.objective,
            "robust_objective": math.nan if rec.robust_objective is None else rec.robust_objective,
            "train_acc": rec.train_accuracy,
            "test_acc": math.nan,
            "robust_test_acc": math.nan,
            "n_active": net.n_active(),
            "time": rec.time,
            "epochs_run": rec.epochs_run,
            "status": rec.status,
        }
        if X_test is not None:
            row["test_acc"] = float(np.mean(y_test * net.decision_function(X_test) > 0))
            if attack is not None:
                param = net.hidden.weight
                xt = torch.as_tensor(X_test, dtype=param.dtype, device=param.device)
                yt = torch.as_tensor(y_test, dtype=param.dtype, device=param.device)
                x_adv = attack(net, xt, yt).detach()
                with torch.no_grad():  # robust iff correct at x and at the attack's point
                    robust = (yt * net(xt) > 0) & (yt * net(x_adv) > 0)
                row["robust_test_acc"] = float(robust.double().mean())
        rows.append(row)
    return pd.DataFrame(rows)
