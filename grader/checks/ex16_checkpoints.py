"""Hidden checks for ex16_checkpoints: the worker trains a seed-built model with AdamW, saves it
with the learner's save_checkpoint, loads it into a fresh model and optimizer with the learner's
load_checkpoint and trains on. Here the same model is rebuilt and trained without the
interruption (AdamW's update replayed op for op, grader.replay), and the results must be equal
to float32 rounding. A booby-trapped checkpoint must be refused without its code running."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from grader.kit import (
    LearnerRaised,
    Misconception,
    context,
    expect,
    expect_number,
    fail,
    learner_error,
    observed,
    points,
    random_seed,
    size,
    type_name,
    uniform,
)
from grader.replay import ReplayedOptimizer
from grader.worker.scenarios.ex16_checkpoints import build_model, optimizer_state, parameters, train

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import tempfile
import torch
net, fresh = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
opt = torch.optim.AdamW(net.parameters(), lr=0.5)
fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=0.001)
with tempfile.TemporaryDirectory() as tmp:
    save_checkpoint(f"{tmp}/ckpt.pt", net, opt, epoch=1, loss=0.5)
    assert load_checkpoint(f"{tmp}/ckpt.pt", fresh, fresh_opt) == 2, "saved epoch 1: resume at 2"
assert torch.equal(fresh.weight, net.weight), "load_checkpoint should restore the model's weights"
assert fresh_opt.param_groups[0]["lr"] == 0.5, "load_checkpoint should restore the optimizer too"
"""

NO_OPTIMIZER_STATE = Misconception(
    "ex16/no-optimizer-state",
    "The optimizer's state was not saved or not loaded back. AdamW keeps a step count and two "
    "running averages (exp_avg, exp_avg_sq) for every parameter; a fresh optimizer starts them "
    "from zero, so the resumed run takes different steps than an uninterrupted one. Save "
    "optimizer.state_dict() next to model.state_dict(), and restore it with "
    "optimizer.load_state_dict(...).",
)
RESUME_OFF_BY_ONE = Misconception(
    "ex16/resume-off-by-one",
    "`epoch` is the index of the epoch that just finished, as in `for epoch in range(n)`: "
    "training resumes at the next one. Return the saved epoch + 1: returning the saved epoch "
    "trains that epoch twice, adding 2 skips one.",
)
UNSAFE_LOAD = Misconception(
    "ex16/unsafe-load",
    "Loading the checkpoint ran code hidden in the file. torch.load(..., weights_only=False) "
    "unpickles any object, and unpickling can call any function: a checkpoint from the "
    "internet could delete or steal files. Load with torch.load(path, weights_only=True), which "
    "rebuilds only tensors, numbers and containers and raises on anything else, and let that "
    "error through.",
)
WHOLE_MODEL_PICKLED = Misconception(
    "ex16/whole-model-pickled",
    "The checkpoint pickles the model (or optimizer) object itself, so loading it needs the "
    "class's code, weights_only=True refuses it, and the file breaks when your code moves. Save "
    "their state instead: model.state_dict() and optimizer.state_dict() are dicts of tensors "
    "and numbers; load them into objects you built with model.load_state_dict(...) and "
    "optimizer.load_state_dict(...).",
)

# weights_only=True names the first class it refuses; these are the model's and torch's own
PICKLED_OBJECT = r"Unsupported global: GLOBAL \S*(TinyNet|torch\.nn\.|torch\.optim\.)"
REFUSED_NAME = r"Unsupported global: GLOBAL (\S+)"


def _short(qualified: str) -> str:
    """A class's own name: TinyNet, not grader.worker.scenarios.ex16_checkpoints.TinyNet."""
    return qualified.rsplit(".", 1)[-1]


@contextmanager
def _pickled_objects_named() -> Iterator[None]:
    """When weights_only=True refuses a pickled model or optimizer, say so in a few words
    (torch's own message is a page long) and name the mistake."""
    try:
        yield
    except LearnerRaised as exc:
        refused = re.search(REFUSED_NAME, exc.error_message)
        if refused is None or re.search(PICKLED_OBJECT, exc.error_message) is None:
            raise
        where = "".join(re.findall(r"\n    at .*", exc.message))
        fail(
            f"your code raised {exc.error_type}: torch.load(path, weights_only=True) refused the "
            f"checkpoint, which holds a pickled {_short(refused.group(1))} object{where}",
            WHOLE_MODEL_PICKLED,
        )


def _setup(rng: torch.Generator) -> dict[str, Any]:
    return {
        "seed": random_seed(rng),
        "sizes": [size(rng, 2, 6), size(rng, 3, 8), size(rng, 2, 5)],
        "batch_size": size(rng, 2, 8),
        "n_batches": size(rng, 2, 4),
        "lr": uniform(rng, 0.01, 0.04),
        "weight_decay": uniform(rng, 0.05, 0.15),
        "before": size(rng, 1, 3),  # epochs trained before the checkpoint
        "after": size(rng, 1, 3),  # epochs trained after resuming
    }


def _story(setup: dict[str, Any]) -> str:
    """What the scenario did, in the learner's words."""
    return (
        f"after {setup['before']} epoch(s) of AdamW training, "
        f"save_checkpoint(path, model, optimizer, epoch={setup['before'] - 1}, loss) and "
        "load_checkpoint(path, fresh_model, fresh_optimizer)"
    )


def _adamw(model: torch.nn.Module, setup: dict[str, Any]) -> ReplayedOptimizer:
    """What the scenario's torch.optim.AdamW does."""
    lr, weight_decay = setup["lr"], setup["weight_decay"]
    return ReplayedOptimizer.adamw(model.parameters(), lr, weight_decay=weight_decay)


def _reference(setup: dict[str, Any]) -> dict[str, Any]:
    """The state at the checkpoint, the uninterrupted run's final parameters, and those of a
    resumed run whose optimizer started afresh."""
    model, batches = build_model(setup)
    optimizer = _adamw(model, setup)
    train(model, optimizer, batches, setup["before"])
    saved = {"params": parameters(model), "optimizer": optimizer_state(model, optimizer)}
    forgetful_model, _ = build_model(setup, fresh=True)
    forgetful_optimizer = _adamw(forgetful_model, setup)
    forgetful_model.load_state_dict(model.state_dict())
    train(model, optimizer, batches, setup["after"])
    train(forgetful_model, forgetful_optimizer, batches, setup["after"])
    return {
        "saved": saved,
        "final": parameters(model),
        "fresh_optimizer_final": parameters(forgetful_model),
    }


def _resume(learner: Any, setup: dict[str, Any]) -> dict[str, Any]:
    with _pickled_objects_named():
        report = learner.scenario("resume", setup)
    report = observed(report, dict, "restored", "final")
    restored = observed(report["restored"], dict, "params", "optimizer")
    for part in (restored["params"], restored["optimizer"], report["final"]):
        observed(part, dict)
    return report


def _same(got: Any, want: torch.Tensor) -> bool:
    return (
        type(got) is torch.Tensor
        and got.dtype == want.dtype
        and got.shape == want.shape
        and torch.allclose(got, want, rtol=1e-5, atol=1e-7)
    )


def _expect_params(
    got: dict[str, Any],
    want: dict[str, torch.Tensor],
    what: str,
    wrong: Misconception | None,
) -> None:
    """Every parameter equal, to float32 rounding; `wrong`: the misconception a mismatch
    shows, or None."""
    for name, expected in want.items():
        if not _same(got.get(name), expected):
            value = got.get(name)
            detail = ""
            if type(value) is torch.Tensor and value.shape == expected.shape:
                error = (value.double() - expected.double()).abs().max().item()
                detail = f" (max abs difference {error:.3g})"
            fail(f"{what}: parameter {name} differs{detail}", wrong)


def _holds_model_state(content: Any, want: dict[str, torch.Tensor]) -> bool:
    """Whether some dict in `content` maps every parameter name to the trained values."""
    if type(content) is dict:
        if all(_same(content.get(name), value) for name, value in want.items()):
            return True
        return any(_holds_model_state(v, want) for v in content.values())
    if type(content) is list:
        return any(_holds_model_state(v, want) for v in content)
    return False


def _holds_optimizer_state(content: Any) -> bool:
    """Whether some dict in `content` looks like a used optimizer's state_dict()."""
    if type(content) is dict:
        state = content.get("state")
        if type(state) is dict and state and "param_groups" in content:
            return True
        return any(_holds_optimizer_state(v) for v in content.values())
    if type(content) is list:
        return any(_holds_optimizer_state(v) for v in content)
    return False


@points(2)
def test_checkpoint_file(learner, rng):
    """save_checkpoint saves both state_dicts in a file that loads with weights_only=True"""
    setup = _setup(rng)
    report = observed(learner.scenario("save_and_inspect", setup), dict, "exists")
    what = f"save_checkpoint(path, model, optimizer, epoch={setup['before'] - 1}, loss)"
    expect(report["exists"], f"{what} wrote no file at `path`")
    error = report.get("error")
    if error is not None:
        found = re.search(REFUSED_NAME, str(error))
        if found and re.search(PICKLED_OBJECT, str(error)):
            fail(
                f"the file that {what} wrote does not load with torch.load(path, "
                f"weights_only=True): it holds a pickled {_short(found.group(1))} object",
                WHOLE_MODEL_PICKLED,
            )
        refused = f" (it holds a {_short(found.group(1))})" if found else ""
        fail(
            f"the file that {what} wrote does not load with torch.load(path, weights_only=True)"
            f"{refused}: save only tensors, numbers, strings and dicts or lists of them"
        )
    content = report.get("content")
    want = _reference(setup)["saved"]
    expect(
        _holds_model_state(content, want["params"]),
        f"the file that {what} wrote holds no model.state_dict() with the model's trained "
        f"weights (it holds a {type_name(content)}"
        + (f" with keys {sorted(content)})" if type(content) is dict else ")"),
    )
    expect(
        _holds_optimizer_state(content),
        f"the file that {what} wrote holds no optimizer.state_dict() (a dict with 'state' and "
        "'param_groups')",
        NO_OPTIMIZER_STATE,
    )


@points(2)
def test_restores_state(learner, rng):
    """load_checkpoint restores the parameters and the optimizer's state into fresh objects"""
    setup = _setup(rng)
    report = _resume(learner, setup)
    want = _reference(setup)["saved"]
    got = report["restored"]
    with context(_story(setup)):
        _expect_params(got["params"], want["params"], "the fresh model after loading", None)
        states = got["optimizer"]
        if not any(type(s) is dict and s for s in states.values()):
            fail("the fresh optimizer's state is empty after loading", NO_OPTIMIZER_STATE)
        for name, expected in want["optimizer"].items():
            state = states.get(name)
            for key, value in expected.items():
                expect(
                    type(state) is dict and _same(state.get(key), value),
                    f"the fresh optimizer's {key} for parameter {name} differs from the saved "
                    "optimizer's",
                    NO_OPTIMIZER_STATE,
                )


@points(2)
def test_resume_equals_uninterrupted(learner, rng):
    """resumed training ends with the weights of uninterrupted training"""
    setup = _setup(rng)
    report = _resume(learner, setup)
    want = _reference(setup)
    story = f"{_story(setup)}, then {setup['after']} more epoch(s)"
    forgot = all(_same(report["final"].get(n), p) for n, p in want["fresh_optimizer_final"].items())
    with context(story):
        _expect_params(
            report["final"],
            want["final"],
            f"compared with {setup['before'] + setup['after']} uninterrupted epochs",
            NO_OPTIMIZER_STATE if forgot else None,
        )


@points(2)
def test_resume_epoch(learner, rng):
    """load_checkpoint returns the epoch to resume from: the saved epoch + 1"""
    setup = _setup(rng)
    epochs = [0, size(rng, 1, 9), size(rng, 10, 99)]
    with _pickled_objects_named():
        starts = learner.scenario("resume_epochs", setup, epochs)
    starts = observed(starts, list, length=len(epochs))
    for epoch, start in zip(epochs, starts, strict=True):
        expect_number(
            start,
            epoch + 1,
            f"load_checkpoint on a checkpoint saved with epoch={epoch}",
            kind=int,
            wrong={RESUME_OFF_BY_ONE: (float(epoch), float(epoch + 2))},
        )


@points(2)
def test_refuses_code_running_checkpoint(learner, rng):
    """load_checkpoint refuses a checkpoint that would run code when unpickled"""
    report = observed(
        learner.scenario("load_booby_trapped", _setup(rng)), dict, "code_ran", "error"
    )
    what = (
        "load_checkpoint(path, model, optimizer) on a checkpoint carrying an object that runs "
        "code when unpickled"
    )
    if report["code_ran"]:
        fail(f"{what}: the code ran (it created a file)", UNSAFE_LOAD)
    error = report["error"]
    if error is None:
        fail(
            f"{what} returned without raising: let the error of torch.load(path, "
            "weights_only=True) through, so that nobody trains on a file that was tampered with"
        )
    if not observed(error, dict).get("refused"):
        raise learner_error(what, error)
