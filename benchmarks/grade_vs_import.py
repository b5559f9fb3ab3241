"""How much a grading run costs next to the `import torch` every run must pay anyway.

Times whole processes, alternating the two commands so that machine noise hits
both alike, and prints the median of each and their ratio. Target: <= 1.25.

    .venv/bin/python benchmarks/grade_vs_import.py [--kata ex05] [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import catalog  # noqa: E402

# bytecode caches, as a learner's machine keeps them (torch's came with its wheel); some
# machines (this VM) set PYTHONDONTWRITEBYTECODE for every process: the first run writes them
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kata", default="ex05")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    kata = catalog.find(args.kata)
    grade = [sys.executable, "-m", "grader", kata.id, "--file", str(kata.solution_path), "--json"]
    baseline = [sys.executable, "-c", "import torch"]
    check = subprocess.run(grade, capture_output=True, text=True, cwd=ROOT, env=ENV)
    if check.returncode != 0:
        sys.exit(f"the reference does not pass: {check.stdout[-2000:]}{check.stderr[-2000:]}")
    timings: dict[str, list[float]] = {"grade": [], "import": []}
    for _ in range(args.repeat):
        timings["grade"].append(wall_time(grade))
        timings["import"].append(wall_time(baseline))
    grade_s, import_s = (statistics.median(timings[k]) for k in ("grade", "import"))
    print(f"grade {kata.id} (reference), median of {args.repeat}: {grade_s:.3f} s")
    print(f"python -c 'import torch',   median of {args.repeat}: {import_s:.3f} s")
    print(f"ratio: {grade_s / import_s:.3f}  (target <= 1.25)")
    print(
        f"static analysis of the reference's rules, once per submission: {_rules_ms(kata):.2f} ms"
    )


def _rules_ms(kata: catalog.Kata) -> float:
    """What reading a submission's rules costs the judge (parse and reach, uncached)."""
    import importlib

    from grader import rules

    module = importlib.import_module(f"grader.checks.{kata.name}")
    found = [v for v in vars(module).values() if isinstance(v, rules.Rule)]
    found += [v.rule for v in vars(module).values() if hasattr(v, "rule")]
    source = kata.solution_path.read_text()
    start = time.perf_counter()
    for _ in range(20):
        rules.parse.cache_clear()
        rules.check.cache_clear()
        for rule in found:
            rules.check(source, rule)
    return (time.perf_counter() - start) / 20 * 1000


if __name__ == "__main__":
    main()
