"""The worker's contract with the judge: one run process per grading run, fresh for the next
run, and lanes of one shared worker for grading processes that run side by side."""

from __future__ import annotations

import platform
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import torch

from grader.lanes import Lane, LanePool
from grader.sandbox import HUGE_PAGES_FROM, Limits
from grader.worker.protocol import Value

SOURCE = """
import os
import random
import time
import torch

calls = 0
born = os.urandom(8).hex()  # this run process's own: a fresh one loads the file again

def bump():
    global calls
    calls += 1
    return calls

def draws():
    return torch.rand(3), random.random()

def imported(name):
    import sys
    return name in sys.modules

def spin():
    while True:
        pass

def priority(pause):
    time.sleep(pause)
    return [os.getpriority(os.PRIO_PROCESS, 0), born]
"""


def call(name: str) -> dict:
    return {"kind": "call", "name": name, "args": [], "kwargs": {"__dict__": {}}, "forbid": []}


@pytest.fixture(scope="module")
def lane():
    handle = Lane(Limits())
    yield handle
    handle.close()


def value(lane: Lane, name: str, run: str, seed: int | None = None, seconds: float = 10):
    outcome = lane.run(SOURCE, "sub.py", call(name), seconds, run=run, seed=seed)
    assert isinstance(outcome.answer, Value), outcome
    return outcome.answer.value


def test_a_run_loads_the_file_once_and_the_next_run_afresh(lane):
    assert [value(lane, "bump", "run-a") for _ in range(3)] == [1, 2, 3]
    assert value(lane, "bump", "run-b") == 1, "another run must not see the last one's state"


def test_the_seed_fixes_a_task_s_random_draws_whatever_ran_before(lane):
    first = value(lane, "draws", "run-c", seed=7)
    value(lane, "bump", "run-c")
    for again in (value(lane, "draws", "run-c", seed=7), value(lane, "draws", "run-d", seed=7)):
        assert torch.equal(again[0], first[0]) and again[1] == first[1]


def test_a_task_over_its_limit_is_killed_and_the_run_goes_on_in_a_fresh_process(lane):
    value(lane, "bump", "run-e")
    started = time.monotonic()
    outcome = lane.run(SOURCE, "sub.py", call("spin"), 0.5, run="run-e")
    assert outcome.timed_out and outcome.loaded
    assert time.monotonic() - started < 3, "the worker itself enforces the limit"
    assert value(lane, "bump", "run-e") == 1, "the killed process's state is gone"


def test_a_task_long_past_a_quarter_of_its_limit_yields_its_core_and_its_process(lane):
    slow = {**call("priority"), "args": [1.0]}  # its limit is 2 s: demoted after 0.5 s
    outcome = lane.run(SOURCE, "sub.py", slow, 2, run="run-k")
    assert isinstance(outcome.answer, Value) and not outcome.timed_out, outcome
    niceness, first = outcome.answer.value
    assert niceness == 19, "a task still running after a quarter of its limit runs at nice 19"
    quick = {**call("priority"), "args": [0.0]}
    niceness, second = lane.run(SOURCE, "sub.py", quick, 2, run="run-k").answer.value
    assert second != first and niceness < 19, "the run's next task gets a process at full priority"


class WatchedLane(Lane):
    """A real lane that notes the kind of each message it reads from its worker."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits)
        self.seen: list[str] = []

    def _next_message(self, deadline: float):
        message = super()._next_message(deadline)
        self.seen.append(type(message).__name__)
        return message


def test_a_short_task_wakes_the_judge_once_and_a_long_one_says_it_started():
    watched = WatchedLane(Limits())
    try:
        value(watched, "bump", "run-w")  # a new run: the judge marks its budget at Started
        assert watched.seen[-4:] == ["Started", "Loaded", "Reply", "Done"], watched.seen
        watched.seen.clear()
        value(watched, "bump", "run-w")
        assert watched.seen == ["Loaded", "Reply", "Done"], "a short task: one write, no Started"
        watched.seen.clear()
        slow = {**call("priority"), "args": [0.4]}
        outcome = watched.run(SOURCE, "sub.py", slow, 10, run="run-w")
        assert watched.seen == ["Started", "Loaded", "Reply", "Done"], watched.seen
        assert 0.4 <= outcome.elapsed < 5, f"the task's time is the lane's: {outcome.elapsed}"
    finally:
        watched.close()


def test_what_a_run_left_behind_is_killed_before_the_next_run(lane):
    marker = f"katas-stray-{uuid.uuid4().hex}"
    source = f"""
import subprocess, sys

def detach():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"],
                     start_new_session=True)
    return 0
"""
    assert lane.run(source, "sub.py", call("detach"), 10, run="run-f").answer.value == 0
    assert pgrep(marker), "the detached process should be running until the next run"
    value(lane, "bump", "run-g")
    assert not pgrep(marker), "a new run starts with nothing left of the previous one"


def test_a_shared_worker_serves_each_lane_its_own_runs():
    shared = LanePool(Limits(), lanes=2)
    try:
        first, second = shared.lanes
        assert value(first, "bump", "run-h") == 1
        assert value(second, "bump", "run-i") == 1
        assert value(first, "bump", "run-h") == 2, "lane 1's run keeps its child"
        first.close()  # a lane given up: the next job starts a worker of its own
        assert value(first, "bump", "run-j") == 1
        assert value(second, "bump", "run-i") == 2, "the other lane is untouched"
    finally:
        shared.close()
        first.close()


def test_runs_needing_no_preload_take_a_light_lane_that_did_not_wait_for_it():
    shared = LanePool(Limits(), lanes=1, preload=("torch._dynamo",))
    (lane,) = shared.lanes
    task = {**call("imported"), "args": ["torch._dynamo"]}
    try:
        light = lane.run(SOURCE, "sub.py", task, 10, run="run-light")
        heavy = lane.run(SOURCE, "sub.py", task, 10, imports=("torch._dynamo",), run="run-heavy")
        assert light.answer.value is False, "a run needing no imports goes to the light lane"
        assert heavy.answer.value is True, "a run needing the preload finds it imported"
    finally:
        lane.close()
        shared.close()


def test_the_warm_worker_forks_runs_with_one_thread_and_the_random_state_untouched():
    """The worker warms torch up before forking (grader/worker/warmup.py): a run must start as
    if it had not, with torch's own initial random state and no thread lost in the fork."""
    source = """
import os
import torch

drawn_on_import = torch.rand(3)

def start():
    fresh = torch.Generator().manual_seed(torch.initial_seed())  # the generator's first draws
    untouched = torch.equal(drawn_on_import, torch.rand(3, generator=fresh))
    return untouched, len(os.listdir("/proc/self/task"))
"""
    shared = LanePool(Limits(), lanes=1, preload=("torch._dynamo",))
    (lane,) = shared.lanes
    try:
        for imports in ((), ("torch._dynamo",)):  # the light lane and the warmed optimizers'
            outcome = lane.run(source, "s.py", call("start"), 10, imports=imports, run=str(imports))
            untouched, threads = outcome.answer.value
            assert untouched, f"the warm-up drew from the random state ({imports})"
            assert threads == 1, f"a run starts with {threads} threads ({imports})"
    finally:
        lane.close()
        shared.close()


def test_a_worker_for_a_class_forks_its_runs_from_huge_pages():
    """Before forking the lanes of a class, the worker collapses its memory onto huge pages
    (grader/worker/warmup.py): a run after torch._dynamo's import finds most of it there (a
    tenth without), and computes as before."""
    source = """
import torch

def start():
    with open("/proc/self/smaps_rollup") as rollup:
        kib = dict(line.split()[:2] for line in rollup if line.split()[-1] == "kB")
    huge = int(kib["AnonHugePages:"]) / int(kib["Anonymous:"])
    return huge, torch.ones(2, 3).sum().item()
"""
    shared = LanePool(Limits(), lanes=1, preload=("torch._dynamo",), runs=HUGE_PAGES_FROM)
    (lane,) = shared.lanes
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    kernel = tuple(int(part) for part in platform.release().split(".")[:2])
    offered = kernel >= (6, 1) and thp.exists() and "[never]" not in thp.read_text()  # COLLAPSE
    try:
        imports = ("torch._dynamo",)
        outcome = lane.run(source, "s.py", call("start"), 10, imports=imports, run="class")
        huge, total = outcome.answer.value
        assert total == 6.0, "a run forked from huge pages computes as before"
        if offered:
            assert huge > 0.25, f"{huge:.0%} of a run's memory is on huge pages"
    finally:
        lane.close()
        shared.close()


def pgrep(marker: str) -> str:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
