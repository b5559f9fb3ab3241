"""Scenarios for ex20_capstone: train the learner's classifier on datasets the judge drew, then
run the returned model on held-out inputs. A model cannot cross to the judge, so its test
logits do; the judge works out the accuracy itself."""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from ..runner import need


def _held_out_output(model: Any, X_test: torch.Tensor) -> dict[str, Any]:
    """The model's type, the mode it was returned in, and its output on X_test in eval mode
    under no_grad (a tensor, or the output's type name when it is none)."""
    report: dict[str, Any] = {
        "model": type(model).__name__,
        "is_module": False,
        "training": None,
        "output": None,
    }
    if not isinstance(model, nn.Module):
        return report
    report["is_module"] = True
    report["training"] = model.training  # as train_classifier handed it back
    model.eval()
    with torch.no_grad():
        output = model(X_test)
    report["output"] = output.detach() if type(output) is torch.Tensor else type(output).__name__
    return report


def train_and_predict(
    module: types.ModuleType, datasets: list[dict[str, Any]], seed: int, global_seeds: list[int]
) -> list[dict[str, Any]]:
    """For each dataset (X_train, y_train, num_classes, X_test): train_classifier(..., seed=seed),
    the mode of the model it returned and the model's output on X_test. Before each training
    the global RNG is set to another state, as the rest of a program would leave it."""
    train_classifier = need(module, "train_classifier")
    reports = []
    for data, global_seed in zip(datasets, global_seeds, strict=True):
        torch.manual_seed(global_seed)
        model = train_classifier(data["X_train"], data["y_train"], data["num_classes"], seed=seed)
        reports.append(_held_out_output(model, data["X_test"]))
    return reports
