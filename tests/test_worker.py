"""The worker's contract with the judge: one child per grading run, fresh for the next run,
and lanes of one shared worker for grading processes that run side by side."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from grader.sandbox import Limits, SharedWorker, Worker

SOURCE = """
import os
import random
import time
import torch

calls = 0

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
    return [os.getpriority(os.PRIO_PROCESS, 0), os.getpid()]
"""


def call(name: str) -> dict:
    return {"kind": "call", "name": name, "args": [], "kwargs": {"__dict__": {}}, "forbid": []}


@pytest.fixture(scope="module")
def worker():
    w = Worker(Limits())
    yield w
    w.close()


def value(worker: Worker, name: str, run: str, seed: int | None = None, seconds: float = 10):
    outcome = worker.run(SOURCE, "sub.py", call(name), seconds, run=run, seed=seed)
    assert outcome.reply is not None, outcome
    return outcome.reply["value"]


def test_a_run_loads_the_file_once_and_the_next_run_afresh(worker):
    assert [value(worker, "bump", "run-a") for _ in range(3)] == [1, 2, 3]
    assert value(worker, "bump", "run-b") == 1, "another run must not see the last one's state"


def test_the_seed_fixes_a_task_s_random_draws_whatever_ran_before(worker):
    first = value(worker, "draws", "run-c", seed=7)
    value(worker, "bump", "run-c")
    assert value(worker, "draws", "run-c", seed=7) == first
    assert value(worker, "draws", "run-d", seed=7) == first


def test_a_task_over_its_limit_is_killed_and_the_run_goes_on_in_a_fresh_child(worker):
    value(worker, "bump", "run-e")
    started = time.monotonic()
    outcome = worker.run(SOURCE, "sub.py", call("spin"), 0.5, run="run-e")
    assert outcome.timed_out and outcome.loaded
    assert time.monotonic() - started < 3, "the worker itself enforces the limit"
    assert value(worker, "bump", "run-e") == 1, "the killed child's state is gone"


def test_a_task_long_past_a_quarter_of_its_limit_yields_its_core_and_then_its_child(worker):
    slow = {**call("priority"), "args": [1.0]}  # its limit is 2 s: demoted after 0.5 s
    outcome = worker.run(SOURCE, "sub.py", slow, 2, run="run-k")
    assert outcome.reply is not None and not outcome.timed_out, outcome
    niceness, pid = outcome.reply["value"]
    assert niceness == 19, "a task still running after a quarter of its limit runs at nice 19"
    quick = {**call("priority"), "args": [0.0]}
    niceness, next_pid = worker.run(SOURCE, "sub.py", quick, 2, run="run-k").reply["value"]
    assert next_pid != pid and niceness < 19, "the run's next task gets a child at full priority"


def test_what_a_run_left_behind_is_killed_before_the_next_run(worker):
    marker = f"katas-stray-{uuid.uuid4().hex}"
    source = f"""
import subprocess, sys

def detach():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"],
                     start_new_session=True)
    return 0
"""
    assert worker.run(source, "sub.py", call("detach"), 10, run="run-f").reply["value"] == 0
    assert pgrep(marker), "the detached process should be running until the next run"
    value(worker, "bump", "run-g")
    assert not pgrep(marker), "a new run starts with nothing left of the previous one"


def test_a_shared_worker_serves_each_lane_its_own_runs():
    shared = SharedWorker(Limits(), lanes=2)
    try:
        first, second = shared.workers
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
    shared = SharedWorker(Limits(), lanes=1, preload=("torch._dynamo",))
    (worker,) = shared.workers
    task = {**call("imported"), "args": ["torch._dynamo"]}
    try:
        light = worker.run(SOURCE, "sub.py", task, 10, run="run-light")
        heavy = worker.run(SOURCE, "sub.py", task, 10, imports=("torch._dynamo",), run="run-heavy")
        assert light.reply is not None and heavy.reply is not None, (light, heavy)
        assert light.reply["value"] is False, "a run needing no imports goes to the light lane"
        assert heavy.reply["value"] is True, "a run needing the preload finds it imported"
    finally:
        worker.close()
        shared.close()


def pgrep(marker: str) -> str:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
