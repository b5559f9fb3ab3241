"""Hidden checks for ex23_fit: the learner's fit runs in the worker on a seed-built classifier
with batch norm and dropout (arriving in eval mode), a torch.optim optimizer and two DataLoaders
with short last batches. Here the same objects are rebuilt and a reference fit runs on them, the
optimizer's update replayed op for op (grader.replay); the per-epoch losses, accuracies and the
final state must equal it to float32 rounding.

Hooks in the worker note each forward pass's loader, layer modes and grad mode, and the optimizer
steps after it; they name what went wrong. Validation labels are chosen here, after the
reference run, so that the accuracy over examples and the mean of per-batch accuracies part.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from grader.kit import (
    TAMPERED,
    Misconception,
    context,
    diagnose,
    expect,
    explain,
    fail,
    observed,
    points,
    random_seed,
    size,
    type_name,
    uniform,
)
from grader.replay import ReplayedOptimizer
from grader.worker.scenarios.ex23_fit import OPTIMIZERS, build_model

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import math
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
torch.manual_seed(0)
x, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
loader = DataLoader(TensorDataset(x, y), batch_size=16)  # batches of 16, 16 and a short 8
net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.9), nn.Linear(16, 3)).eval()
opt = torch.optim.SGD(net.parameters(), lr=0.0)  # lr 0: the weights stay as they are
history = fit(net, opt, nn.CrossEntropyLoss(), loader, loader, epochs=2)
assert len(history) == 2 and all(type(v) is float for pair in history for v in pair)
assert net.training, "fit should hand the model back in train mode"
accuracy = (net.eval()(x).argmax(dim=-1) == y).float().mean().item()
assert math.isclose(history[1][1], accuracy, rel_tol=1e-6), "validate in eval mode, per example"
plain = nn.Linear(3, 3)  # no dropout: with lr 0 an epoch's loss is the loss over all 40 examples
history = fit(plain, torch.optim.SGD(plain.parameters(), lr=0.0), nn.CrossEntropyLoss(),
              loader, loader, epochs=1)
whole = nn.functional.cross_entropy(plain(x), y).item()
assert math.isclose(history[0][0], whole, rel_tol=1e-5), "weigh each batch's loss by its size"
"""

MEAN_OF_BATCH_LOSSES = Misconception(
    "ex23/mean-of-batch-losses",
    "This is the mean of the per-batch losses. Each batch's loss is already a mean over its own "
    "examples, and the last batch is shorter than the others, yet in that mean it counts as much "
    "as a full one. Weigh each batch's loss by its size: add up loss.item() * len(y), and divide "
    "by the number of examples at the end of the epoch.",
)
VAL_TRAIN_MODE = Misconception(
    "ex23/val-train-mode",
    "Validation ran with the model in training mode: dropout zeroed random activations and batch "
    "norm normalized with each batch's own statistics (and moved its running averages), so the "
    "accuracy is noisy, not the model's, and the next epoch trains from another state. Call "
    "model.eval() before the validation loop.",
)
VAL_GRAPH = Misconception(
    "ex23/val-graph",
    "Validation ran with grad mode on, so autograd recorded a graph of every forward pass and kept "
    "its activations for a backward pass that never comes: memory and time wasted. Run the "
    "validation loop inside `with torch.no_grad():`.",
)
VAL_STEPS = Misconception(
    "ex23/val-steps",
    "Validation tried to learn: backward() or optimizer.step() ran on the validation batches. "
    "The model then learns from the examples that should measure it, so the accuracy is no "
    "longer on unseen data and the next epoch starts from other weights (and under "
    "torch.no_grad() backward() fails: there is no graph). Validation only measures: no "
    "backward(), no optimizer.step().",
)
EVAL_MODE_LEAK = Misconception(
    "ex23/eval-mode-leak",
    "After the first epoch's validation the model stayed in eval mode, so every later epoch "
    "trained with dropout off and batch norm stuck on its running averages. model.eval() lasts "
    "until something switches it back: call model.train() at the start of every epoch, not once "
    "before the loop.",
)
ENDS_IN_EVAL_MODE = Misconception(
    "ex23/ends-in-eval-mode",
    "fit handed the model back in eval mode, as the last validation left it. The caller expects "
    "a model ready to train on (more epochs, fine-tuning): call model.train() once more after the "
    "loop.",
)
MEAN_OF_BATCH_ACCURACIES = Misconception(
    "ex23/mean-of-batch-accuracies",
    "This is the mean of the per-batch accuracies, in which val_loader's short last batch counts "
    "as much as a full one. Count correct predictions and examples over all the batches, and "
    "divide once.",
)
SUM_NOT_MEAN = Misconception(
    "ex23/sum-not-mean",
    "This is a sum, not a mean: the losses (or correct predictions) added up over the epoch, "
    "never divided, so the number grows with the size of the data. Divide the sum by the "
    "number of examples at the end of the epoch.",
)
TOTALS_NOT_RESET = Misconception(
    "ex23/totals-not-reset",
    "The running totals were not reset between epochs, so this epoch's number also counts the "
    "examples of the epochs before it. Start every epoch with fresh totals: set them to zero "
    "inside the epoch loop, not once before it.",
)

MARGIN = 1e-4  # a prediction whose top two logits are closer than this may go either way
PHASES = ("train", "val", "none")  # the loader a forward pass's batch came from, if any
LAYERS = ("dropout", "batch norm")  # the layers whose behaviour depends on the mode
# torch's message when backward() meets an output computed under no_grad
BACKWARD_UNDER_NO_GRAD = r"does not require grad and does not have a grad_fn"


def _setup(rng: torch.Generator, optimizer: str) -> dict[str, Any]:
    batch_size, val_batch_size = size(rng, 4, 8), size(rng, 4, 8)
    lr = uniform(rng, 0.01, 0.04) if optimizer == "adamw" else uniform(rng, 0.05, 0.2)
    return {
        "seed": random_seed(rng),
        "sizes": [size(rng, 3, 8), size(rng, 6, 12), size(rng, 3, 5)],  # in, hidden, classes
        "p": uniform(rng, 0.3, 0.6),
        "batch_size": batch_size,  # the last batch of each loader is at most half a full one
        "n_train": size(rng, 2, 3) * batch_size + size(rng, 2, batch_size // 2),
        "val_batch_size": val_batch_size,
        "n_val": size(rng, 2, 3) * val_batch_size + size(rng, 2, val_batch_size // 2),
        "optimizer": optimizer,
        "lr": lr,
        "epochs": size(rng, 2, 3),
    }


class Epoch(NamedTuple):
    """One epoch of the reference fit."""

    loss: float  # mean over the training examples
    batch_mean: float  # mean of the per-batch losses: the mistake
    predicted: torch.Tensor  # (M,) validation predictions after this epoch's training
    unsure: torch.Tensor  # (M,) bool: top two logits within MARGIN


def _reference(setup: dict[str, Any]) -> tuple[list[Epoch], dict[str, torch.Tensor], torch.Tensor]:
    """The reference fit: each epoch, the final state_dict, and the default validation labels."""
    model, loss_fn, train_loader, val_loader = build_model(setup)
    replay = ReplayedOptimizer.adamw if setup["optimizer"] == "adamw" else ReplayedOptimizer.sgd
    optimizer = replay(model.parameters(), setup["lr"], **OPTIMIZERS[setup["optimizer"]])
    epochs = []
    for _ in range(setup["epochs"]):
        model.train()
        losses, counts = [], []
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            counts.append(len(y))
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x) for x, _ in val_loader])  # (M, C)
        top2 = logits.topk(2, dim=-1).values  # (M, 2)
        epochs.append(
            Epoch(
                loss=sum(v * n for v, n in zip(losses, counts, strict=True)) / sum(counts),
                batch_mean=sum(losses) / len(losses),
                predicted=logits.argmax(dim=-1),
                unsure=(top2[:, 0] - top2[:, 1]) < MARGIN,
            )
        )
    state = {name: value.clone() for name, value in model.state_dict().items()}
    return epochs, state, val_loader.dataset.tensors[1]


class Case:
    """A setup, the reference fit on it, and validation labels: the teacher's, except that the
    short last batch is all right after the final epoch, so the accuracy over examples and the
    mean of per-batch accuracies part."""

    def __init__(self, rng: torch.Generator, optimizer: str) -> None:
        for _ in range(20):  # a setup whose weighted and plain loss means part clearly
            self.setup = _setup(rng, optimizer)
            self.epochs, self.state, labels = _reference(self.setup)
            if any(not math.isclose(e.loss, e.batch_mean, rel_tol=1e-3) for e in self.epochs):
                break
        n_val, val_batch = self.setup["n_val"], self.setup["val_batch_size"]
        full = n_val - n_val % val_batch  # examples in full batches
        final = self.epochs[-1].predicted
        labels = labels.clone()
        labels[full:] = final[full:]
        if bool((labels[:full] == final[:full]).all()):
            labels[0] = (final[0] + 1) % self.setup["sizes"][2]
        self.setup["val_y"] = labels

    def accuracy(self, epoch: int) -> tuple[float, float, float, float]:
        """Epoch's accuracy over examples, the range rounding allows, and the batch mean."""
        e, labels = self.epochs[epoch], self.setup["val_y"]
        hits = e.predicted == labels  # (M,)
        n, unsure = len(labels), int(e.unsure.sum())
        correct = int(hits.sum())
        batches = hits.split(self.setup["val_batch_size"])
        batch_mean = sum(b.double().mean().item() for b in batches) / len(batches)
        return correct / n, max(correct - unsure, 0) / n, min(correct + unsure, n) / n, batch_mean

    def call(self) -> str:
        """The call, in the learner's words."""
        s = self.setup
        opt = "AdamW" if s["optimizer"] == "adamw" else "SGD with momentum"
        b, vb = s["batch_size"], s["val_batch_size"]
        return (
            f"fit(model, {opt}, nn.CrossEntropyLoss(), train_loader, val_loader, "
            f"epochs={s['epochs']}) with {s['n_train'] // b} training batches of {b} and a last "
            f"one of {s['n_train'] % b}, {s['n_val'] // vb} validation batches of {vb} and a last "
            f"one of {s['n_val'] % vb}"
        )

    def run(self, learner: Any) -> Report:
        with explain(VAL_STEPS, when=BACKWARD_UNDER_NO_GRAD):
            return _read(learner.scenario("fit_run", self.setup))


class Report(NamedTuple):
    """What the worker saw: fit's return value, the forward passes grouped by epoch, the modes
    left behind and the final state_dict."""

    returned: Any
    epochs: list[dict[str, list[dict[str, Any]]]]
    modes: dict[str, bool]
    grad_enabled: bool
    state: dict[str, Any]


def _by_epoch(passes: list[dict[str, Any]]) -> list[dict[str, list[dict[str, Any]]]]:
    """The forward passes, epoch by epoch: a training pass after a validation pass starts one."""
    epochs: list[dict[str, list[dict[str, Any]]]] = []
    previous = None
    for one in passes:
        phase = one["phase"]
        if not epochs or (phase == "train" and previous == "val"):
            epochs.append({name: [] for name in PHASES})
        epochs[-1][phase].append(one)
        previous = phase
    return epochs


def _read(seen: Any) -> Report:
    seen = observed(seen, dict, "passes", "returned", "modes", "grad_enabled", "state")
    passes = observed(seen["passes"], list, "phase", "training", "grad_enabled", "graph", "steps")
    for one in passes:
        observed(one["training"], dict)
        if one["phase"] not in PHASES:
            fail(f"{TAMPERED} (a forward pass of phase {one['phase']!r})")
    return Report(
        seen["returned"],
        _by_epoch(passes),
        observed(seen["modes"], dict),
        seen["grad_enabled"],
        observed(seen["state"], dict),
    )


def _layers_in(one: dict[str, Any], training: bool) -> list[str]:
    """Which of dropout and batch norm ran in that mode in this pass (or did not run)."""
    return [name for name in LAYERS if one["training"].get(name, not training) is training]


def _seen(report: Report, train_epochs: range, val_epochs: range) -> Misconception | None:
    """The mistake the hooks saw in the training passes of `train_epochs` or the validation
    passes of `val_epochs`."""
    epochs = report.epochs
    val = [one for e in val_epochs if e < len(epochs) for one in epochs[e]["val"]]
    if any(one["steps"] for one in val):
        return VAL_STEPS
    if any(_layers_in(one, True) for one in val):
        return VAL_TRAIN_MODE
    first_trained = bool(epochs) and not any(_layers_in(p, False) for p in epochs[0]["train"])
    later = [one for e in train_epochs if 0 < e < len(epochs) for one in epochs[e]["train"]]
    if first_trained and any(_layers_in(one, False) for one in later):
        return EVAL_MODE_LEAK
    return None


def _number(value: Any, what: str) -> float:
    if type(value) is torch.Tensor:
        graph = ", still holding its graph" if value.requires_grad else ""
        fail(
            f"{what} should be a Python float, got a torch.Tensor{graph} (call .item() to turn "
            "a one-element tensor into a float)"
        )
    expect(type(value) in (int, float), f"{what} should be a Python float, got {type_name(value)}")
    return float(value)


def _history(case: Case, report: Report) -> list[tuple[float, float]]:
    """fit's return value as (loss, accuracy) floats, or a failure that says what is off."""
    returned, epochs = report.returned, case.setup["epochs"]
    expect(
        type(returned) in (list, tuple),
        f"fit should return a list of (train loss, val accuracy) pairs, got {type_name(returned)}",
    )
    expect(
        len(returned) == epochs,
        f"fit should return one pair per epoch: {epochs}, got {len(returned)}",
    )
    history = []
    for epoch, pair in enumerate(returned):
        expect(
            type(pair) in (tuple, list) and len(pair) == 2,
            f"epoch {epoch}'s entry should be a (train loss, val accuracy) pair, got "
            f"{type_name(pair)}" + (f" of {len(pair)}" if type(pair) in (tuple, list) else ""),
        )
        history.append(
            (
                _number(pair[0], f"epoch {epoch}'s train loss"),
                _number(pair[1], f"epoch {epoch}'s val accuracy"),
            )
        )
    return history


def _near(got: float, want: float) -> bool:
    """Equal to float32 rounding."""
    return math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-7)


def _same(got: Any, want: torch.Tensor) -> bool:
    if type(got) is not torch.Tensor or got.dtype != want.dtype or got.shape != want.shape:
        return False
    if not want.is_floating_point():
        return bool(torch.equal(got, want))
    return bool(torch.allclose(got.double(), want.double(), rtol=1e-5, atol=1e-7))


@points(1)
def test_returns_history(learner, rng):
    """fit returns one (train loss, val accuracy) pair of floats per epoch"""
    case = Case(rng, "momentum")
    report = case.run(learner)
    with context(case.call()):
        _history(case, report)


@points(3)
def test_train_losses(learner, rng):
    """each epoch's train loss is the mean over its examples, and training matches the reference"""
    case = Case(rng, "adamw")
    report = case.run(learner)
    with context(case.call()):
        history = _history(case, report)
        for epoch, ((loss, _), want) in enumerate(zip(history, case.epochs, strict=True)):
            if _near(loss, want.loss):
                continue
            so_far = [e.loss for e in case.epochs[: epoch + 1]]  # every epoch has N examples
            n = case.setup["n_train"]
            batches = math.ceil(n / case.setup["batch_size"])
            wrong = diagnose(
                loss,
                {
                    MEAN_OF_BATCH_LOSSES: lambda v: _near(v, want.batch_mean),
                    TOTALS_NOT_RESET: lambda v: _near(v, sum(so_far) / len(so_far)),
                    SUM_NOT_MEAN: lambda v: (
                        _near(v, want.loss * n) or _near(v, want.batch_mean * batches)
                    ),
                },
            ) or _seen(report, range(epoch + 1), range(epoch))
            fail(
                f"epoch {epoch}'s train loss should be {want.loss:.8g} (the mean over its "
                f"{case.setup['n_train']} examples of each step's loss before its update), "
                f"got {loss:.8g}",
                wrong,
            )
        for name, want_value in case.state.items():
            if not _same(report.state.get(name), want_value):
                fail(
                    f"after fit, the model's {name} differs from the reference fit's (the "
                    "losses agree, so something changed the model after its last training step)",
                    _seen(report, range(0), range(case.setup["epochs"])),
                )


@points(2)
def test_val_accuracy(learner, rng):
    """each epoch's val accuracy is over the validation examples, after that epoch's training"""
    case = Case(rng, "momentum")
    report = case.run(learner)
    with context(case.call()):
        history = _history(case, report)
        for epoch, (_, accuracy) in enumerate(history):
            want, low, high, batch_mean = case.accuracy(epoch)
            if low - 1e-9 <= accuracy <= high + 1e-9:
                continue
            so_far = [case.accuracy(e)[0] for e in range(epoch + 1)]  # M examples each
            n = case.setup["n_val"]
            batches = math.ceil(n / case.setup["val_batch_size"])
            wrong = diagnose(
                accuracy,
                {
                    MEAN_OF_BATCH_ACCURACIES: lambda v: _near(v, batch_mean),
                    TOTALS_NOT_RESET: lambda v: _near(v, sum(so_far) / len(so_far)),
                    SUM_NOT_MEAN: lambda v: (
                        low * n - 1e-6 <= v <= high * n + 1e-6 or _near(v, batch_mean * batches)
                    ),
                },
            ) or _seen(report, range(epoch + 1), range(epoch + 1))
            fail(
                f"epoch {epoch}'s val accuracy should be {want:.6g} (correct predictions over "
                f"all {case.setup['n_val']} validation examples), got {accuracy:.6g}",
                wrong,
            )


def _validation_passes(report: Report) -> list[tuple[int, dict[str, Any]]]:
    passes = [(e, one) for e, epoch in enumerate(report.epochs) for one in epoch["val"]]
    expect(bool(passes), "fit never ran the model on a batch of val_loader")
    return passes


@points(1)
def test_validation_eval_mode(learner, rng):
    """validation runs the model in eval mode"""
    case = Case(rng, "momentum")
    report = case.run(learner)
    with context(case.call()):
        for epoch, one in _validation_passes(report):
            trained = _layers_in(one, True)
            expect(
                not trained,
                f"in epoch {epoch}, validation ran {' and '.join(trained)} in train mode",
                VAL_TRAIN_MODE,
            )


@points(1)
def test_validation_no_grad(learner, rng):
    """validation builds no graph and never steps the optimizer"""
    case = Case(rng, "adamw")
    report = case.run(learner)
    with context(case.call()):
        passes = _validation_passes(report)
        for epoch, one in passes:
            expect(
                not one["steps"],
                f"in epoch {epoch}, the optimizer stepped after a forward pass on a validation "
                "batch",
                VAL_STEPS,
            )
        for epoch, one in passes:
            expect(
                not (one["grad_enabled"] or one["graph"]),
                f"in epoch {epoch}, validation ran the model with grad mode on",
                VAL_GRAPH,
            )
        expect(
            report.grad_enabled is True,
            "fit left grad mode switched off for the rest of the program: use "
            "`with torch.no_grad():`, which switches it back on when the block ends",
        )


@points(1)
def test_train_mode_every_epoch(learner, rng):
    """every epoch trains in train mode, the first one too"""
    case = Case(rng, "momentum")
    report = case.run(learner)
    with context(f"{case.call()}, the model arriving in eval mode"):
        epochs = [(e, epoch["train"]) for e, epoch in enumerate(report.epochs) if epoch["train"]]
        expect(bool(epochs), "fit never ran the model on a batch of train_loader")
        for epoch, passes in epochs:
            frozen = sorted({name for one in passes for name in _layers_in(one, False)})
            if not frozen:
                continue
            leak = epoch > 0 and _seen(report, range(epoch + 1), range(0)) is EVAL_MODE_LEAK
            fail(
                f"in epoch {epoch}, training ran {' and '.join(frozen)} in eval mode"
                + ("" if leak else ": call model.train() at the start of every epoch"),
                EVAL_MODE_LEAK if leak else None,
            )


@points(1)
def test_ends_in_train_mode(learner, rng):
    """fit hands the model back in train mode"""
    case = Case(rng, "momentum")
    report = case.run(learner)
    with context(case.call()):
        modes = report.modes
        expect(
            modes.get("model") is True,
            "after fit, the model is in eval mode (model.training is False)",
            ENDS_IN_EVAL_MODE,
        )
        left = sorted(name for name, training in modes.items() if training is not True)
        expect(
            not left, f"after fit, layers are in eval mode: {', '.join(left)}", ENDS_IN_EVAL_MODE
        )
