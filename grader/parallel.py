"""Grades many submissions at once: several grading processes, one shared worker.

torch is imported twice in all, whatever the number of processes: once here (the
judge, before forking the grading processes) and once in the sandboxed worker,
whose lanes (one per grading process) are forked after its import. The two
imports run side by side. Each grading process collects the checks once, in a pytest
session it keeps open. A grading process whose lane breaks goes on with a worker of its own.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from . import import_judge
from .catalog import Kata
from .lanes import Lane, LanePool
from .sandbox import Limits

Item = TypeVar("Item")
Graded = TypeVar("Graded")

_lane: Lane | None = None  # in each grading process: its lane
_grade_one: Callable | None = None


def _adopt_lane(
    lanes: list[Lane], taken: Any, grade_one: Callable, fallback: Lane, checks: list[Kata]
) -> None:
    global _lane, _grade_one
    with taken.get_lock():
        index = taken.value
        taken.value += 1
    # a replacement for a process that died finds every lane taken: it gets its own worker
    _lane = lanes[index] if index < len(lanes) else fallback
    _grade_one = grade_one
    if checks:
        import_judge().open_session(checks)


def _call(item: object) -> object:
    assert _lane is not None and _grade_one is not None
    return _grade_one(_lane, item)


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def imap_unordered(
    grade_one: Callable[[Lane, Item], Graded],
    items: Sequence[Item],
    limits: Limits,
    processes: int,
    preload: tuple[str, ...] = (),
    runs: int = 0,
    checks: Iterable[Kata] = (),
    meanwhile: Callable[[], None] = lambda: None,
) -> Iterator[Graded]:
    """`grade_one(lane, item)` for every item, on up to `processes` processes, as each ends.

    `preload`: modules the worker imports once, up front (torch._dynamo, which an optimizer
    pulls in on first use, costs a second in every process that imports it); runs that
    need none of them do not wait for that (SplitLane). `runs`: how many grading runs the
    items hold, all together (one an item if not given). `checks`: the katas the items
    grade; each grading process collects their checks once, in a pytest session it keeps
    open (judge.OpenSession). `meanwhile`: the caller's own work, done once the grading
    processes have their items, while they wait for the worker's lanes (half a second here).
    """
    if not items:
        return
    processes = max(1, min(processes, len(items)))
    pool = LanePool(limits, processes, preload, runs or len(items))  # starts importing now
    try:
        import_judge()  # before forking: no grading process pays again

        context = multiprocessing.get_context("fork")
        fallback = Lane(limits)  # started only if needed
        setup = (pool.lanes, context.Value("i", 0), grade_one, fallback, list(checks))
        with context.Pool(processes, _adopt_lane, setup) as grading:
            graded = grading.imap_unordered(_call, items)
            meanwhile()
            yield from graded
    finally:
        pool.close()
