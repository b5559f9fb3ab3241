"""Runs learner code, inside the worker's child for one grading run.

This is the only place learner code is executed. It loads the learner's source
as a fresh module and runs tasks on it (a plain call or a trusted scenario),
answering each with plain data. The child serves one grading run of one
submission and is thrown away afterwards: nothing it patched reaches another.
"""

from __future__ import annotations

import importlib
import linecache
import random
import sys
import traceback
import types
from typing import Any

from . import protocol, wire


class Missing(Exception):
    """The learner's module does not define a name a check needs."""


def _learner_frames(tb: types.TracebackType | None, filename: str) -> list[str]:
    frames = [f for f in traceback.extract_tb(tb) if f.filename == filename]
    return [
        f"line {f.lineno}, in {f.name}: {(f.line or '').strip()}"[: protocol.FRAME_TEXT]
        for f in frames[-protocol.MAX_FRAMES :]
    ]


def describe_exception(exc: BaseException, filename: str) -> dict[str, Any]:
    """The exception as protocol.ErrorInfo reads it (the judge clips it again: it trusts no
    text from here, but most of a 20 MB message need not travel to be cut)."""
    try:
        message = str(exc)[: protocol.MESSAGE_TEXT]
    except BaseException:  # a learner's exception class may break __str__
        message = "<unprintable>"
    return {
        "type": str(type(exc).__name__)[: wire.DESCRIPTION],
        "message": message,
        "frames": _learner_frames(exc.__traceback__, filename),
    }


def load_module(source: str, filename: str) -> types.ModuleType:
    name = filename.rsplit("/", 1)[-1].removesuffix(".py") or "submission"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    exec(code, module.__dict__)
    return module


def need(module: types.ModuleType, name: str) -> Any:
    """The learner's `name`, or the Missing error that the judge reports by name."""
    try:
        return getattr(module, name)
    except AttributeError:
        raise Missing(name) from None


def run_task(module: types.ModuleType, task: dict[str, Any]) -> Any:
    """Execute one task: call a learner function, or a trusted scenario."""
    from .guards import forbidding

    args = wire.from_data(task.get("args", []))
    kwargs = wire.from_data(task.get("kwargs", {"__dict__": {}}))
    with forbidding(task.get("forbid", [])) as used:
        if task["kind"] == "call":
            result = need(module, task["name"])(*args, **kwargs)
        else:
            scenarios = importlib.import_module(f"{__package__}.scenarios.{task['module']}")
            result = getattr(scenarios, task["name"])(module, *args, **kwargs)
    return result, sorted(used)


def load(source: str, filename: str) -> tuple[types.ModuleType | None, dict[str, Any] | None]:
    """Import the learner's source: the module, or None and the answer that says why not."""
    try:
        return load_module(source, filename), None
    except SyntaxError as exc:
        syntax = {"line": exc.lineno, "message": exc.msg, "text": (exc.text or "").rstrip()}
        return None, protocol.load_error_answer(syntax=syntax)
    except BaseException as exc:  # anything at import time, SystemExit included
        return None, protocol.load_error_answer(error=describe_exception(exc, filename))


def answer(
    module: types.ModuleType, task: dict[str, Any], filename: str, seed: int | None = None
) -> dict[str, Any]:
    """Run `task` on a loaded module; the answer as plain data (never raises).

    `seed` seeds the global random state first, so a task's draws do not depend on the
    tasks that ran before it in the same process.
    """
    if seed is not None:
        import torch

        random.seed(seed)
        # not torch.manual_seed: it also queues a seed, with a stack trace, for every device
        # type (milliseconds a task); the checks' tasks run on the CPU, or CUDA if present
        torch.default_generator.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    try:
        result, forbidden_used = run_task(module, task)
    except Missing as exc:
        return protocol.missing_answer(str(exc))
    except BaseException as exc:
        return protocol.raised_answer(describe_exception(exc, filename))
    return protocol.value_answer(wire.to_data(result), forbidden_used)
