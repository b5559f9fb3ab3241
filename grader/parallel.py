"""Grades many submissions at once: several grading processes, one shared worker.

torch is imported twice in all, whatever the number of processes: once here (the
judge, before forking the grading processes) and once in the sandboxed worker,
whose lanes (one per grading process) are forked after its import. The two
imports run side by side. A grading process whose lane breaks goes on with a
worker of its own.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import import_judge
from .sandbox import Limits, SharedWorker, Worker

Item = TypeVar("Item")
Graded = TypeVar("Graded")

_worker: Worker | None = None  # in each grading process: its lane
_grade_one: Callable | None = None


def _adopt_lane(workers: list[Worker], taken: Any, grade_one: Callable, fallback: Worker) -> None:
    global _worker, _grade_one
    with taken.get_lock():
        index = taken.value
        taken.value += 1
    # a replacement for a process that died finds every lane taken: it gets its own worker
    _worker = workers[index] if index < len(workers) else fallback
    _grade_one = grade_one


def _call(item: object) -> object:
    assert _worker is not None and _grade_one is not None
    return _grade_one(_worker, item)


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def imap_unordered(
    grade_one: Callable[[Worker, Item], Graded],
    items: Sequence[Item],
    limits: Limits,
    processes: int,
    hidden: tuple[Path, ...] = (),
    preload: tuple[str, ...] = (),
) -> Iterator[Graded]:
    """`grade_one(worker, item)` for every item, on up to `processes` processes, as each ends.

    `preload`: modules the worker imports once, up front (torch._dynamo, which an optimizer
    pulls in on first use, costs a second in every process that imports it); runs that
    need none of them do not wait for that (SplitWorker).
    """
    if not items:
        return
    processes = max(1, min(processes, len(items)))
    shared = SharedWorker(limits, processes, hidden, preload)  # starts importing now
    try:
        import_judge()  # before forking: no grading process pays again

        context = multiprocessing.get_context("fork")
        fallback = Worker(limits, hidden)  # started only if needed
        setup = (shared.workers, context.Value("i", 0), grade_one, fallback)
        with context.Pool(processes, _adopt_lane, setup) as pool:
            yield from pool.imap_unordered(_call, items)
    finally:
        shared.close()
