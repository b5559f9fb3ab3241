"""Hidden checks for ex20_capstone: train_classifier on spirals and Gaussian blobs drawn here, with
random sizes, then the returned model's logits on held-out points from the same distribution.

The model cannot cross to the judge: the scenario trains it in the worker and sends back its test
logits; the judge works out the accuracy. Reproducibility is two trainings with the same seed in
one job, with torch's global RNG moved to another state before each. The worker also reports
the mode the model came back in (it must be eval mode)."""

from __future__ import annotations

import math
from typing import Any

import torch

from grader.kit import (
    Failure,
    LearnerTimedOut,
    Misconception,
    expect,
    fail,
    fmt_shape,
    observed,
    points,
    random_seed,
    seconds,
    size,
    uniform,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
torch.manual_seed(0)
points = torch.randn(400, 2)
labels = (points[:, 0] * points[:, 1] > 0).long()  # opposite quadrants: not linearly separable
model = train_classifier(points[:200], labels[:200], num_classes=2)
with torch.no_grad():
    logits = model(points[200:])  # held-out points
assert logits.shape == (200, 2), "the model should map (M, D) to (M, num_classes) logits"
accuracy = (logits.argmax(dim=1) == labels[200:]).float().mean()
assert accuracy >= 0.9, "held-out accuracy should be at least 90%"
assert not model.training, "return the model in eval mode: call model.eval() before returning"
"""

TARGET = 0.95

BELOW_TARGET = Misconception(
    "ex20/below-target",
    "The model does not classify well enough. Spirals need a curved decision boundary: a model "
    "with no hidden layer (or hidden layers without a nonlinearity such as ReLU between them) "
    "can only draw straight lines. Use an MLP with hidden layers and ReLU, train it with Adam "
    "(lr about 1e-2) for a few hundred full-batch steps on cross-entropy, and watch the "
    "training loss fall and the training accuracy climb before you return.",
)
NOT_REPRODUCIBLE = Misconception(
    "ex20/not-reproducible",
    "Two trainings with the same seed gave different models. Weight initialization (and any "
    "shuffling or dropout) draws from torch's global RNG, whose state depends on whatever ran "
    "before your function. Seed it at the start of train_classifier: torch.manual_seed(seed) "
    "before you build the model.",
)
WRONG_OUTPUT_SHAPE = Misconception(
    "ex20/wrong-output-shape",
    "The returned model must map inputs (M, D) to logits (M, num_classes): one float score per "
    "class for every example, the largest one for the predicted class (not the class id itself, "
    "and not a single number per example). End the model with nn.Linear(hidden, num_classes) "
    "and train it with cross-entropy.",
)
TRAIN_MODE = Misconception(
    "ex20/train-mode",
    "The model came back in training mode. Layers such as dropout and batch norm behave "
    "differently at inference (dropout zeroes random activations in train mode; batch norm "
    "uses the batch's statistics instead of its running averages), so whoever predicts with "
    "your model would get noisy answers. Call model.eval() before returning it.",
)
TOO_SLOW = Misconception(
    "ex20/too-slow",
    "Training took too long. These datasets are a few thousand points: train on the whole "
    "dataset at once (full batch) or in large mini-batches rather than one example at a time, "
    "keep the model small (two hidden layers of 64 are plenty), and stop after a few hundred "
    "steps.",
)


def _split(X: torch.Tensor, y: torch.Tensor, n_train: int, rng: torch.Generator) -> dict:
    """Shuffle (X, y) and cut it into a training part of n_train points and a test part."""
    order = torch.randperm(len(y), generator=rng)
    X, y = X[order], y[order]
    return {
        "X_train": X[:n_train],
        "y_train": y[:n_train],
        "X_test": X[n_train:],
        "y_test": y[n_train:],
    }


def spirals(rng: torch.Generator, per_arm: int, test_per_arm: int) -> dict[str, Any]:
    """2, or 3 interleaved noisy spiral arms in the plane, one class each."""
    arms = size(rng, 2, 3)
    turns, noise = uniform(rng, 0.75, 1.25), uniform(rng, 0.01, 0.03)
    n = per_arm + test_per_arm
    t = torch.rand(arms, n, generator=rng)  # how far along its arm each point lies
    angle = 2 * math.pi * (turns * t + torch.arange(arms).unsqueeze(1) / arms)  # (arms, n)
    radius = 0.2 + t
    X = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=-1)  # (arms, n, 2)
    X = X + noise * torch.randn(X.shape, generator=rng)
    y = torch.arange(arms).repeat_interleave(n)
    data = _split(X.reshape(-1, 2), y, arms * per_arm, rng)
    described = f"spirals ({arms} arms, {turns:.2f} turns, {arms * per_arm} training points)"
    return {**data, "num_classes": arms, "described": described}


def blobs(rng: torch.Generator, per_class: int, test_per_class: int) -> dict[str, Any]:
    """3 to 6 well separated Gaussian clusters in 2 to 10 dimensions, one class each."""
    dims = size(rng, 2, 10)
    classes = size(rng, 3, 6)
    while True:
        centers = 4 * torch.rand(classes, dims, generator=rng) - 2  # (C, D) in [-2, 2]^D
        if torch.pdist(centers).min() > 1.5:  # 6 standard deviations apart at least
            break
    n = per_class + test_per_class
    y = torch.arange(classes).repeat_interleave(n)
    X = centers[y] + 0.25 * torch.randn(classes * n, dims, generator=rng)
    data = _split(X, y, classes * per_class, rng)
    described = f"blobs ({classes} classes in {dims} dims, {classes * per_class} training points)"
    return {**data, "num_classes": classes, "described": described}


def _train(learner, datasets: list[dict[str, Any]], seed: int, rng: torch.Generator) -> list:
    """The scenario's report per dataset, with a too-slow training named as such."""
    sent = [{k: d[k] for k in ("X_train", "y_train", "num_classes", "X_test")} for d in datasets]
    global_seeds = [random_seed(rng) for _ in datasets]
    try:
        seen = learner.scenario("train_and_predict", sent, seed, global_seeds)
    except LearnerTimedOut as exc:
        raise Failure(exc.message, TOO_SLOW) from None
    return observed(seen, list, "output", "is_module", length=len(datasets))


def _logits(seen: dict[str, Any], data: dict[str, Any], seed: int) -> torch.Tensor:
    """The model's held-out output, checked to be (M, C) finite float logits."""
    what = f"train_classifier(X, y, {data['num_classes']}, seed={seed}) on {data['described']}"
    expect(seen["is_module"], f"{what} should return an nn.Module, got {seen.get('model')}")
    got = seen["output"]
    m, d = data["X_test"].shape
    want = (m, data["num_classes"])
    on = f"the returned model on inputs {fmt_shape((m, d))}"
    if type(got) is not torch.Tensor:
        fail(f"{what}: {on} returned {got}, not a tensor of logits", WRONG_OUTPUT_SHAPE)
    if not got.is_floating_point():
        fail(
            f"{what}: {on} returned {str(got.dtype).removeprefix('torch.')} values of shape "
            f"{fmt_shape(got.shape)}, not float logits of shape {fmt_shape(want)}",
            WRONG_OUTPUT_SHAPE,
        )
    if tuple(got.shape) != want:
        fail(
            f"{what}: {on} returned shape {fmt_shape(got.shape)}, expected logits of shape "
            f"{fmt_shape(want)}",
            WRONG_OUTPUT_SHAPE,
        )
    expect(bool(torch.isfinite(got).all()), f"{what}: {on} returned nan or inf logits")
    return got


@points(5)
@seconds(60)
def test_accuracy(learner, rng):
    """train_classifier reaches 95% held-out accuracy on spirals and blobs"""
    seed = random_seed(rng)
    datasets = [spirals(rng, 400, 200), blobs(rng, 200, 100)]
    for data, seen in zip(datasets, _train(learner, datasets, seed, rng), strict=True):
        logits = _logits(seen, data, seed)
        accuracy = (logits.argmax(dim=-1) == data["y_test"]).double().mean().item()
        expect(
            accuracy >= TARGET,
            f"on {data['described']} the trained model is right on {accuracy:.1%} of "
            f"{len(data['y_test'])} held-out points; the target is {TARGET:.0%}",
            BELOW_TARGET,
        )


@points(1)
@seconds(20)
def test_output_shape(learner, rng):
    """the model maps inputs (M, D) to logits (M, num_classes)"""
    data = blobs(rng, size(rng, 20, 40), 0)
    # a test batch whose size is neither the class count nor the dimension, nor a training size
    classes, dims = data["num_classes"], data["X_train"].shape[1]
    m = classes + dims + size(rng, 1, 9)
    data["X_test"] = torch.randn(m, dims, generator=rng)
    seed = random_seed(rng)
    (seen,) = _train(learner, [data], seed, rng)
    _logits(seen, data, seed)


@points(3)
@seconds(30)
def test_reproducible(learner, rng):
    """the same seed gives the same model"""
    data = blobs(rng, size(rng, 30, 50), size(rng, 10, 20))
    seed = random_seed(rng)
    first, second = (_logits(s, data, seed) for s in _train(learner, [data, data], seed, rng))
    differ = (first - second).abs().max().item()
    expect(
        torch.equal(first, second),
        f"train_classifier(X, y, {data['num_classes']}, seed={seed}) on {data['described']}, "
        f"twice: the two models' logits on the same inputs differ by up to {differ:.3g}",
        NOT_REPRODUCIBLE,
    )


@points(1)
@seconds(20)
def test_returned_in_eval_mode(learner, rng):
    """the model comes back in eval mode, ready to predict"""
    data = blobs(rng, size(rng, 20, 40), size(rng, 5, 10))
    seed = random_seed(rng)
    (seen,) = _train(learner, [data], seed, rng)
    what = f"train_classifier(X, y, {data['num_classes']}, seed={seed}) on {data['described']}"
    expect(seen["is_module"], f"{what} should return an nn.Module, got {seen.get('model')}")
    expect(
        seen.get("training") is False,
        f"{what} returned the model in training mode (model.training is {seen.get('training')})",
        TRAIN_MODE,
    )
