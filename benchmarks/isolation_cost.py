"""What walling a grading run in costs, in milliseconds per run.

Starts the worker's sandbox (bubblewrap, the same allow-list), imports torch there as the
worker does, then times a run process's life both ways, alternating: a plain fork of the warm
process that exits at once, and a fork into a fresh pid namespace that walls itself in
(grader/worker/isolation.py: namespaces, /tmp, /dev/shm and /proc mounts, capabilities dropped;
both are born in the lane's cgroups) before it exits. The difference is what isolation adds to every
submission; `grade batch` pays it once per submission, not per check.

    .venv/bin/python benchmarks/isolation_cost.py [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.budget import Cgroups, RunBudget  # noqa: E402
from grader.sandbox import _NAMESPACES, WORKER_ROOT, allow_list, bubblewrap_problem  # noqa: E402

TIMED = """
import json, os, statistics, sys, time
sys.path.insert(0, {root!r})
import torch
from grader.worker import isolation
cgroups = tuple(json.loads(sys.argv[1]))
walls = isolation.Walls(cgroups, 256 * 2**20, 64 * 2**20, namespaces=True, keep_in_tmp={keep!r})
pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY)
isolation.join_budget(walls)  # as a lane does, once: its runs are born in the budget

def plain():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)

def walled():
    pid = isolation.fork_run(walls, pid_namespace)
    if pid == 0:
        isolation.enter(walls, keep=())
        os._exit(0)
    os.waitpid(pid, 0)

times = {{"plain": [], "walled": []}}
for _ in range({runs}):
    for name, run in (("plain", plain), ("walled", walled)):
        start = time.perf_counter()
        run()
        times[name].append(time.perf_counter() - start)
print(json.dumps({{name: statistics.median(t) * 1000 for name, t in times.items()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if bubblewrap_problem():
        sys.exit(f"no sandbox here: {bubblewrap_problem()}")
    cgroups = Cgroups.create(RunBudget(), lanes=1)
    fds = cgroups.lanes[0].open_procs() if isinstance(cgroups, Cgroups) else []
    visible = allow_list()
    code = TIMED.format(root=WORKER_ROOT, runs=args.runs, keep=visible.under_tmp)
    command = ["bwrap", *_NAMESPACES, *visible.args, "--chdir", "/", sys.executable, "-c", code]
    try:
        done = subprocess.run(
            [*command, json.dumps(fds)], capture_output=True, text=True, pass_fds=fds, check=True
        )
    finally:
        for fd in fds:
            os.close(fd)
        if isinstance(cgroups, Cgroups):
            cgroups.close()
    medians = json.loads(done.stdout)
    budget = cgroups.kind if isinstance(cgroups, Cgroups) else f"no cgroups ({cgroups})"
    print(f"a run process's life, median of {args.runs} (budget: {budget}):")
    print(f"  plain fork and exit:         {medians['plain']:.2f} ms")
    print(f"  walled in (isolation.enter): {medians['walled']:.2f} ms")
    print(f"  isolation costs {medians['walled'] - medians['plain']:.2f} ms per submission")


if __name__ == "__main__":
    main()
