"""Scenarios for ex03_gather_nll: the loss's value and its gradient with respect to the logits."""

from .common import value_and_grad  # noqa: F401
