"""Hidden checks for ex15_evaluation: evaluate and predict_proba on a seed-built classifier with
batch norm and strong dropout, handed over in train or eval mode.

The worker reports what each layer saw during the learner's forward passes (its mode, grad mode,
whether the model's own hooks had fired: model(x), not model.forward(x)) and the modes left
behind; the judge builds the same model, runs it in eval mode under no_grad
and works out the accuracy and probabilities itself. Labels are chosen here so that the
accuracy over examples and the mean of per-batch accuracies differ clearly."""

from __future__ import annotations

from typing import Any

import torch

from grader.kit import (
    Misconception,
    close,
    context,
    expect,
    expect_number,
    expect_tensor,
    explain,
    fail,
    observed,
    points,
    random_seed,
    size,
)
from grader.worker.scenarios.ex15_evaluation import build_model

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
from torch import nn
x = torch.tensor([[2.0, 0.0], [3.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # logits already: nn.Identity
y = torch.tensor([0, 0, 0, 0])  # the last example is wrong
accuracy = evaluate(nn.Identity(), [(x[:3], y[:3]), (x[3:], y[3:])])  # batches of 3 and 1
assert abs(accuracy - 0.75) < 1e-6, "evaluate: 3 of 4 examples are right, whatever the batches"
net = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.9))  # a new module is in training mode
probs = predict_proba(net, x)
assert net.training and not probs.requires_grad, "no_grad, and hand the model back in train mode"
assert torch.allclose(probs, torch.softmax(net[0](x), dim=-1)), "eval mode: dropout should be off"
fired = []
net.register_forward_pre_hook(lambda module, args: fired.append(True))
predict_proba(net, x)
assert fired, "call the model as model(x), not model.forward(x), so that its hooks run"
"""

DROPOUT_ON = Misconception(
    "ex15/dropout-on",
    "The model ran in training mode: dropout zeroed random activations and batch norm used the "
    "batch's own statistics (and updated its running averages), so the answer is noisy and not "
    "the model's real prediction. Call model.eval() before the forward passes.",
)
GRAPH_BUILT = Misconception(
    "ex15/graph-built",
    "Grad mode was on during the forward pass, so autograd recorded a graph and kept every "
    "activation for a backward pass that never comes: wasted memory and time (.detach() "
    "afterwards is too late). Run the forward passes inside `with torch.no_grad():`.",
)
MODE_NOT_RESTORED = Misconception(
    "ex15/mode-not-restored",
    "The model was left in another mode than it came in. The training loop that calls you expects "
    "its model back as it was: remember was_training = model.training before model.eval(), and "
    "call model.train(was_training) at the end (not model.train(), which is wrong for a model "
    "that came in eval mode).",
)
MEAN_OF_BATCH_ACCURACIES = Misconception(
    "ex15/mean-of-batch-accuracies",
    "This is the mean of the per-batch accuracies. The last batch is shorter than the others, "
    "yet it counts as much as a full one in that mean. Count correct predictions and examples "
    "over all batches, and divide once at the end.",
)
SUM_NOT_MEAN = Misconception(
    "ex15/sum-not-mean",
    "This is a count, not an accuracy: the number of correct predictions (or the per-batch "
    "accuracies added up) grows with the data. The accuracy is a mean over the examples: "
    "divide the number of correct predictions by the number of examples, once, at the end.",
)
FORWARD_CALLED = Misconception(
    "ex15/forward-called",
    "The model's layers ran, but not through model(x): calling model.forward(x) directly skips "
    "nn.Module.__call__, and with it every hook registered on the model itself (code that logs, "
    "checks or changes a model's inputs and outputs adds such hooks). Call the module: model(x).",
)

# what the scenarios report for each case (predict_cases: the output's "graph" too)
REPORT = ("value", "calls", "modes", "grad_enabled", "frozen")
CALL = ("layer", "training", "grad_enabled", "requires_grad", "through_model")  # per layer call
# torch's message when batch norm in training mode meets a batch of one
BATCH_NORM_TRAINING = r"more than 1 value per channel"


def _sizes(rng: torch.Generator) -> list[int]:
    return [size(rng, 2, 8), size(rng, 4, 12), size(rng, 3, 6)]  # in, hidden, classes


def _eval_logits(seed: int, sizes: list[int], x: torch.Tensor) -> torch.Tensor:
    model = build_model(seed, sizes).eval()
    with torch.no_grad():
        return model(x)  # (N, C)


def _inputs(rng: torch.Generator, seed: int, sizes: list[int], n: int) -> torch.Tensor:
    """(n, in) inputs whose predicted class is clear (top two logits apart), so that rounding
    differences between batchings cannot change an argmax."""
    x = torch.randn(n, sizes[0], generator=rng)
    for _ in range(100):
        top2 = _eval_logits(seed, sizes, x).topk(2, dim=-1).values
        close_call = (top2[:, 0] - top2[:, 1]) < 1e-3
        if not close_call.any():
            return x
        x[close_call] = torch.randn(int(close_call.sum()), sizes[0], generator=rng)
    raise RuntimeError("could not draw inputs with clear predictions")


def _expect_forward_passes(seen: dict[str, Any], what: str) -> list[dict[str, Any]]:
    calls = observed(seen["calls"], list, *CALL)
    expect(bool(calls), f"{what} never ran the model")
    return calls


def _trained_layers(calls: list[dict[str, Any]]) -> list[str]:
    """Layers that behave differently in train mode and ran in it."""
    return sorted(
        {c["layer"] for c in calls if c["training"] and c["layer"] in ("Dropout", "BatchNorm1d")}
    )


def _mode(training: bool) -> str:
    return "train mode" if training else "eval mode"


# ---------------------------------------------------------------- evaluate


class EvalSetup:
    """A model seed and sizes, and labelled batches whose last batch is short."""

    def __init__(self, rng: torch.Generator) -> None:
        self.seed, self.sizes = random_seed(rng), _sizes(rng)
        self.batch_size = size(rng, 4, 8)
        full, last = size(rng, 2, 4), size(rng, 2, self.batch_size // 2)
        n = full * self.batch_size + last
        self.x = _inputs(rng, self.seed, self.sizes, n)
        predicted = _eval_logits(self.seed, self.sizes, self.x).argmax(dim=-1)  # (n,)
        classes = self.sizes[2]
        for _ in range(100):
            # full batches about 35% right, the short last one all right: the two means part
            right = torch.rand(n, generator=rng) < 0.35
            right[full * self.batch_size :] = True
            other = (predicted + torch.randint(1, classes, (n,), generator=rng)) % classes
            self.y = torch.where(right, predicted, other)
            hits = [b.float().mean().item() for b in right.split(self.batch_size)]
            self.accuracy = right.float().mean().item()
            self.mean_of_batches = sum(hits) / len(hits)
            self.sums = (float(right.sum()), sum(hits))  # correct predictions; batch accuracies
            if abs(self.accuracy - self.mean_of_batches) > 0.04:
                break
        self.described = (
            f"{full} batches of {self.batch_size} and a last one of {last}, {classes} classes"
        )

    def run(self, learner, cases: list[tuple[bool, str]]) -> list[dict[str, Any]]:
        with explain(DROPOUT_ON, when=BATCH_NORM_TRAINING):
            seen = learner.scenario(
                "evaluate_cases",
                self.seed,
                self.sizes,
                self.x,
                self.y,
                self.batch_size,
                [{"training": training, "batches": kind} for training, kind in cases],
            )
        return observed(seen, list, *REPORT, length=len(cases))

    def what(self, training: bool, kind: str) -> str:
        batches = "a DataLoader" if kind == "dataloader" else "a list"
        return f"evaluate(model in {_mode(training)}, {batches} of {self.described})"


@points(2)
def test_evaluate_accuracy(learner, rng):
    """evaluate returns the accuracy over all examples"""
    setup = EvalSetup(rng)
    cases = [(True, "list"), (False, "dataloader")]
    for (training, kind), seen in zip(cases, setup.run(learner, cases), strict=True):
        what = setup.what(training, kind)
        calls = _expect_forward_passes(seen, what)
        expect_number(
            seen["value"],
            setup.accuracy,
            what,
            rel=1e-6,
            wrong={
                MEAN_OF_BATCH_ACCURACIES: setup.mean_of_batches,
                SUM_NOT_MEAN: setup.sums,
                DROPOUT_ON: lambda _, calls=calls: bool(_trained_layers(calls)),
            },
        )


@points(1)
def test_evaluate_eval_mode(learner, rng):
    """evaluate runs the model in eval mode"""
    setup = EvalSetup(rng)
    (seen,) = setup.run(learner, [(True, "list")])
    what = setup.what(True, "list")
    trained = _trained_layers(_expect_forward_passes(seen, what))
    expect(
        not trained,
        f"{what} ran the model in training mode ({' and '.join(trained)} in train mode "
        "during the forward pass)",
        DROPOUT_ON,
    )


@points(1)
def test_evaluate_no_grad(learner, rng):
    """evaluate builds no autograd graph"""
    setup = EvalSetup(rng)
    (seen,) = setup.run(learner, [(True, "list")])
    what = setup.what(True, "list")
    calls = _expect_forward_passes(seen, what)
    expect(
        not any(c["grad_enabled"] or c["requires_grad"] for c in calls),
        f"{what} ran the forward pass with grad mode on",
        GRAPH_BUILT,
    )


def _expect_left_as_found(seen: dict[str, Any], training: bool, what: str) -> None:
    modes = observed(seen["modes"], dict)
    if modes.get("model") is not training:
        fail(
            f"{what} left the model in {_mode(not training)} (model.training is {not training})",
            MODE_NOT_RESTORED,
        )
    layers = sorted(name for name, mode in modes.items() if mode is not training)
    if layers:
        fail(f"{what} left layers in {_mode(not training)}: {', '.join(layers)}", MODE_NOT_RESTORED)
    expect(
        seen["grad_enabled"] is True,
        f"{what} left grad mode switched off for the rest of the program: use "
        "`with torch.no_grad():`, which switches it back on when the block ends",
    )
    expect(
        not seen["frozen"],
        f"{what} left parameters with requires_grad=False ({', '.join(seen['frozen'])}), so "
        "they can no longer be trained: torch.no_grad() stops the graph without touching them",
    )


@points(1)
def test_evaluate_restores_mode(learner, rng):
    """evaluate gives the model back in the mode it came in"""
    setup = EvalSetup(rng)
    cases = [(True, "list"), (False, "list")]
    for (training, kind), seen in zip(cases, setup.run(learner, cases), strict=True):
        _expect_left_as_found(seen, training, setup.what(training, kind))


# ---------------------------------------------------------------- predict_proba


class PredictSetup:
    """A model seed and sizes, and inputs x (n, in)."""

    def __init__(self, rng: torch.Generator) -> None:
        self.seed, self.sizes = random_seed(rng), _sizes(rng)
        self.x = torch.randn(size(rng, 2, 9), self.sizes[0], generator=rng)

    def run(self, learner, modes: list[bool]) -> list[dict[str, Any]]:
        with explain(DROPOUT_ON, when=BATCH_NORM_TRAINING):
            seen = learner.scenario("predict_cases", self.seed, self.sizes, self.x, modes)
        return observed(seen, list, *REPORT, "graph", length=len(modes))

    def what(self, training: bool) -> str:
        n, d_in = self.x.shape
        return f"predict_proba(model in {_mode(training)}, x ({n}, {d_in}))"


@points(2)
def test_predict_proba(learner, rng):
    """predict_proba returns the softmax probabilities of the model in eval mode"""
    setup = PredictSetup(rng)
    modes = [True, False]
    logits = _eval_logits(setup.seed, setup.sizes, setup.x)  # (n, C)
    for training, seen in zip(modes, setup.run(learner, modes), strict=True):
        what = setup.what(training)
        calls = _expect_forward_passes(seen, what)
        got = seen["value"]
        if close(got, logits):
            fail(f"{what} returned the logits: turn them into probabilities with softmax")
        if close(got, logits.softmax(dim=0)):
            fail(f"{what} took the softmax over the batch dim: each row (example) should sum to 1")
        expect_tensor(
            got,
            logits.softmax(dim=-1),
            what,
            rtol=1e-4,
            atol=1e-6,
            wrong={DROPOUT_ON: lambda _, calls=calls: bool(_trained_layers(calls))},
        )


@points(1)
def test_predict_proba_no_grad(learner, rng):
    """predict_proba builds no autograd graph"""
    setup = PredictSetup(rng)
    (seen,) = setup.run(learner, [True])
    what = setup.what(True)
    calls = _expect_forward_passes(seen, what)
    with context(what):
        expect(
            not any(c["grad_enabled"] for c in calls),
            "the forward pass ran with grad mode on",
            GRAPH_BUILT,
        )
        expect(
            not any(observed(seen["graph"], dict, "requires_grad", "grad_fn").values()),
            "the probabilities require grad (they carry an autograd graph)",
            GRAPH_BUILT,
        )


@points(1)
def test_predict_proba_restores_mode(learner, rng):
    """predict_proba gives the model back in the mode it came in"""
    setup = PredictSetup(rng)
    modes = [True, False]
    for training, seen in zip(modes, setup.run(learner, modes), strict=True):
        _expect_left_as_found(seen, training, setup.what(training))


# ---------------------------------------------------------------- both


def _expect_through_model(calls: list[dict[str, Any]], what: str) -> None:
    expect(
        all(c["through_model"] for c in calls),
        f"{what} ran the model's layers without calling the model (its forward pre-hook did not "
        "fire)",
        FORWARD_CALLED,
    )


@points(1)
def test_model_is_called(learner, rng):
    """evaluate and predict_proba call the model as model(x), so its hooks run"""
    evaluation = EvalSetup(rng)
    (seen,) = evaluation.run(learner, [(True, "list")])
    what = evaluation.what(True, "list")
    _expect_through_model(_expect_forward_passes(seen, what), what)
    prediction = PredictSetup(rng)
    (seen,) = prediction.run(learner, [True])
    what = prediction.what(True)
    _expect_through_model(_expect_forward_passes(seen, what), what)
