"""A Gradescope autograder: `grade gradescope build` writes its zip, and the zip's
run_autograder calls `grade gradescope run`, which grades one student's submission.

The zip holds:
    setup.sh           Gradescope runs it once, as root, to build the image: Python, the CPU
                       build of torch, bubblewrap where the image allows it, and this package
    run_autograder     for every submission: `python3 -m grader gradescope run`
    torch-katas.json   what the run reads: the katas, the tests' visibility, the time limit
    constraints.txt    every dependency pinned to the version installed where the zip was built
    torch_katas-*.whl  this package, without the references: a run left unsandboxed
                       finds no solutions to read

The wheel is pip's build of a source checkout, or the installed package's own files packed
again. The run grades every selected kata of the upload (`exNN_slug.py` or a notebook, names
matched ignoring case) with the same judge as `grade`, one kata after another on one lane,
and writes results/results.json: one Gradescope test per check of every kata, whatever was
uploaded.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import email
import hashlib
import html
import importlib.metadata
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__, catalog, grading, import_judge, notebooks
from ..catalog import Kata, UnknownKata
from ..lanes import Lane
from ..results import CheckResult, Result
from ..sandbox import Limits
from ..usage import EXIT_PASSED, UsageError

CONFIG = "torch-katas.json"
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
UV_VERSION = "0.13.9"  # installs the Python the pins were made for, on any image
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HOME = "/opt/torch-katas"  # the venv setup.sh makes and run_autograder puts on PATH
NOT_SHIPPED = "grader/references/"  # the wheel's solutions: no run needs them
IGNORED_SHOWN = 12  # files of no kata named in the summary (an upload may hold a whole venv)
# what an installed distribution holds that is no part of the wheel (pip writes it)
INSTALLER_FILES = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root and with network access, to build the autograder's image:
# Python {python}, torch {torch} (CPU build) and torch-katas {version}, every dependency pinned
# to the version the autograder was built with (constraints.txt), and bubblewrap if it can.
set -euo pipefail
cd "$(dirname "$0")"
home="${{TORCH_KATAS_HOME:-{home}}}"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates
# bubblewrap walls in each grading run; where the image cannot have it, every result says so
apt-get install -y -q --no-install-recommends bubblewrap \\
  || echo "bubblewrap could not be installed: submissions will be graded unsandboxed"

# uv (pinned) finds or installs Python {python}, whatever the image's own Python is
boot="$(mktemp -d)"
python3 -m venv "$boot"
"$boot/bin/pip" install -q "uv=={uv}"
export UV_PYTHON_INSTALL_DIR=/opt/uv-python
"$boot/bin/uv" venv --python {python} "$home"
# torch first, pinned, from the CPU index: an unpinned torch pulls a CUDA build of gigabytes
"$boot/bin/uv" pip install --python "$home/bin/python" "torch=={torch}" --index-url {index}
"$boot/bin/uv" pip install --python "$home/bin/python" --constraint constraints.txt ./{wheel}
rm -rf "$boot"
"$home/bin/python" -c "import grader.judge; print('torch-katas', grader.__version__, 'ready')"
"""

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission; the grading is Python: `grade gradescope run`.
export PATH="${{TORCH_KATAS_HOME:-{HOME}}}/bin:$PATH"
exec python3 -m grader gradescope run --root "${{AUTOGRADER_ROOT:-/autograder}}"
"""


@dataclass(frozen=True)
class Config:
    """What the build decides and every run reads."""

    katas: tuple[str, ...]  # kata ids, e.g. ("ex01", "ex02")
    visibility: str = "visible"
    check_seconds: float = Limits.check_seconds

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "version": __version__}, indent=1) + "\n"

    @classmethod
    def read(cls, path: Path) -> Config:
        data = json.loads(path.read_text(encoding="utf-8"))
        config = cls(tuple(data["katas"]), data["visibility"], float(data["check_seconds"]))
        if config.visibility not in VISIBILITIES or not config.katas:
            raise ValueError(f"no katas, or an unknown visibility {config.visibility!r}")
        return config

    def select(self) -> list[Kata]:
        return [catalog.find(kata) for kata in self.katas]


# -- the wheel and its pins -----------------------------------------------------------------


def _built_files(checkout: Path, scratch: Path) -> dict[str, bytes]:
    """pip's wheel of a source checkout, built from a copy (the build writes into its tree)."""
    source = scratch / "source"
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".grade")
    shutil.copytree(checkout, source, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(scratch)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        last = (built.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UsageError(f"pip could not build the wheel of {checkout}: {last}")
    with zipfile.ZipFile(next(scratch.glob("*.whl"))) as wheel:
        return {name: wheel.read(name) for name in wheel.namelist()}


def _installed_files() -> dict[str, bytes]:
    """The installed package's files, as its wheel held them."""
    ours = catalog.PACKAGE_DIR / "__init__.py"
    for name in importlib.metadata.packages_distributions().get("grader", []):
        dist = importlib.metadata.distribution(name)
        if Path(dist.locate_file("grader/__init__.py")).resolve() == ours and dist.files:
            return {
                str(path): path.locate().read_bytes()
                for path in dist.files
                if ".." not in path.parts  # the console script: pip writes it again
                and "__pycache__" not in path.parts
                and not (path.parent.suffix == ".dist-info" and path.name in INSTALLER_FILES)
            }
    raise UsageError(f"cannot find the files of the installed package at {catalog.PACKAGE_DIR}")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _wheel(scratch: Path) -> tuple[str, bytes, list[str]]:
    """This package as a wheel without its references: (file name, bytes, its requirements)."""
    files = (
        _built_files(catalog.SOURCE_CHECKOUT, scratch)
        if catalog.SOURCE_CHECKOUT is not None
        else _installed_files()
    )
    info = next(name.split("/")[0] for name in files if name.endswith(".dist-info/METADATA"))
    record = f"{info}/RECORD"
    files = {n: data for n, data in files.items() if n != record and not n.startswith(NOT_SHIPPED)}
    tag = email.message_from_bytes(files[f"{info}/WHEEL"])["Tag"]
    metadata = email.message_from_bytes(files[f"{info}/METADATA"])
    lines = [_record_line(name, data) for name, data in files.items()] + [f"{record},,"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in files.items():
            out.writestr(name, data)
        out.writestr(record, "\n".join(lines) + "\n")
    name = f"{info.removesuffix('.dist-info')}-{tag}.whl"
    return name, buffer.getvalue(), metadata.get_all("Requires-Dist") or []


def _pins(requirements: list[str]) -> dict[str, str]:
    """name -> version of everything these requirements install, as installed here: the
    versions this grader was tested with (a local tag such as torch's +cpu dropped)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    found: dict[str, str] = {}
    todo = [(text, frozenset({""})) for text in requirements]
    while todo:
        text, extras = todo.pop()
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and not any(marker.evaluate({"extra": extra}) for extra in extras):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not needed on this platform or Python: the image resolves it freely
        found[name] = Version(dist.version).public
        todo += [(sub, frozenset({"", *requirement.extras})) for sub in dist.requires or []]
    return dict(sorted(found.items()))


def _add(bundle: zipfile.ZipFile, name: str, data: str | bytes, executable: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    entry.external_attr = (0o100755 if executable else 0o100644) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(entry, data)


def build(config: Config, out: Path) -> None:
    """Write the autograder zip (atomically: a failed build leaves no half a zip)."""
    with tempfile.TemporaryDirectory(prefix="katas-gradescope-") as scratch:
        name, data, requirements = _wheel(Path(scratch))
        pinned = _pins(requirements)
        setup = SETUP.format(
            python=f"{sys.version_info.major}.{sys.version_info.minor}",
            torch=pinned["torch"],
            version=__version__,
            home=HOME,
            uv=UV_VERSION,
            index=TORCH_CPU_INDEX,
            wheel=name,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w") as bundle:
            _add(bundle, "setup.sh", setup, executable=True)
            _add(bundle, "run_autograder", RUN_AUTOGRADER, executable=True)
            _add(bundle, CONFIG, config.to_json())
            _add(bundle, "constraints.txt", "".join(f"{n}=={v}\n" for n, v in pinned.items()))
            _add(bundle, name, data)
        partial.replace(out)


# -- one submission -------------------------------------------------------------------------


@dataclass
class Upload:
    """A student's upload, matched to the assignment's katas."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # kata id -> the file graded
    notes: dict[str, str] = field(default_factory=dict)  # kata id -> how it was matched
    ignored: list[str] = field(default_factory=list)  # files of no kata of the assignment

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _expected(kata: Kata) -> tuple[str, str]:
    return kata.filename, f"{kata.name}.ipynb"


def _kata_of(path: Path) -> Kata | None:
    if path.suffix.lower() not in (".py", ".ipynb"):
        return None
    try:
        return catalog.find(path.stem)
    except UnknownKata:
        return None


def _named_ignoring_case(path: Path, kata: Kata) -> bool:
    return path.name.lower() in [name.lower() for name in _expected(kata)]


def _rank(path: Path, kata: Kata) -> tuple[bool, bool, bool, int, str]:
    """Which of a kata's files is graded: its own name first, then the same name ignoring
    case, then another name `grade` understands (ex5.py); a .py before a notebook; the
    shallowest."""
    exact = path.name in _expected(kata)
    caseless = _named_ignoring_case(path, kata)
    return not exact, not caseless, path.suffix.lower() != ".py", len(path.parts), str(path)


def match(root: Path, katas: list[Kata]) -> Upload:
    """Each kata's file in the upload (in any folder of it), and how it was chosen."""
    upload = Upload(root)
    wanted = {kata.id: kata for kata in katas}
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        parts = path.relative_to(root).parts
        if not path.is_file() or path.is_symlink() or any(p.startswith((".", "__")) for p in parts):
            continue  # .ipynb_checkpoints/, __MACOSX/, __pycache__/: copies, never the work
        kata = _kata_of(path)
        if kata is None or kata.id not in wanted:
            upload.ignored.append(upload.name(path))
        else:
            found.setdefault(kata.id, []).append(path)
    for kata_id, candidates in found.items():
        kata = wanted[kata_id]
        best, *others = sorted(candidates, key=lambda path: _rank(path, kata))
        upload.files[kata_id] = best
        notes = []
        if best.name not in _expected(kata):
            caseless = _named_ignoring_case(best, kata)
            how = " (file names are matched ignoring case)" if caseless else ""
            notes.append(f"graded {upload.name(best)} for {kata.name}{how}")
        if others:
            notes.append("also uploaded, not graded: " + ", ".join(map(upload.name, others)))
        upload.notes[kata_id] = "; ".join(notes)
    return upload


def _nbgrader_without_solution(path: Path) -> bool:
    """An nbgrader notebook (cells with nbgrader metadata) that lost its solution cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    tagged = [(cell.get("metadata") or {}).get("nbgrader") for cell in cells]
    tagged = [meta for meta in tagged if isinstance(meta, dict)]
    return bool(tagged) and all(meta.get("grade_id") != notebooks.SOLUTION_ID for meta in tagged)


def _source(path: Path, name: str) -> grading.Source:
    """The code to grade in a file of the upload (shown by its name in the upload), and why
    it cannot be graded."""
    try:
        source = dataclasses.replace(grading.read(path), filename=name)
    except grading.UnreadableFile as exc:
        return grading.Source("", name, problem=str(exc).replace(str(path), name))
    if source.note and _nbgrader_without_solution(path):  # its cells were taken instead
        return grading.Source(
            "",
            name,
            problem=f"{name} is a course (nbgrader) notebook without its solution cell (the "
            f"cell with grade_id {notebooks.SOLUTION_ID!r}), and only that cell is graded: "
            "write your code in the solution cell of a fresh copy of the notebook",
        )
    return source


def _ungraded(kata: Kata, problem: str, seed: int) -> Result:
    """A kata nothing of the upload could be graded for: each check failed with the reason."""
    checks = [
        CheckResult(c.title, c.points, output=problem, check=c.name, not_run=True)
        for c in notebooks.checks_of(kata)
    ]
    return Result(kata.name, "", seed, "nothing ran", checks, problem=problem)


def _grade(kata: Kata, upload: Upload, lane: Lane | None, seed: int) -> Result:
    path = upload.files.get(kata.id)
    if path is None or lane is None:
        name, notebook = _expected(kata)
        problem = f"no file for {kata.id} in your submission: upload {name} (or {notebook})"
        return _ungraded(kata, problem, seed)
    name = upload.name(path)
    try:
        source = _source(path, name)
        result = import_judge().grade_source(
            kata, source.code, name, problem=source.problem, seed=seed, lane=lane
        )
    except Exception as exc:  # the grader's own failure costs this kata, never the results
        problem = (
            f"the autograder failed on {name} ({type(exc).__name__}: {exc}); it is not your "
            "fault: please tell your instructor"
        )
        return _ungraded(kata, problem, seed)
    result.note = "; ".join(note for note in (upload.notes[kata.id], source.note) if note)
    return result


def _summary(katas: list[Kata], results: list[Result], upload: Upload) -> str:
    """The top of the results: the total, what was not graded and why, the sandbox, and each
    kata's own summary (its file's problem, how its code was taken)."""
    score, most = sum(r.score for r in results), sum(r.max_score for r in results)
    ids = ", ".join(kata.id for kata in katas)
    lines = [f"{score:g}/{most:g} points for {len(katas)} katas ({ids})"]
    if not upload.files:
        names = ", ".join(kata.filename for kata in katas)
        lines.append(f"Nothing was graded: your submission has no file of these katas ({names})")
    if upload.ignored:
        shown = ", ".join(upload.ignored[:IGNORED_SHOWN])
        more = len(upload.ignored) - IGNORED_SHOWN
        if more > 0:
            shown += f" and {more} more"
        lines.append(f"Ignored, no kata of this assignment: {shown}")
    graded = [result for result in results if result.file]
    if graded:
        lines.append(f"Sandbox: {graded[0].sandbox}")
    return "\n\n".join(["\n".join(lines), *(result.summary() for result in results)])


def _document(katas: list[Kata], results: list[Result], upload: Upload, config: Config) -> dict:
    """results.json: one test per check, named after its kata; the katas' summaries on top."""
    tests, extra = [], {}
    for kata, result in zip(katas, results, strict=True):
        rendered = result.to_gradescope()  # each check's text, said once, as everywhere
        extra[kata.name] = rendered["extra_data"]
        pairs = zip(result.checks, rendered["tests"], strict=True)
        for number, (check, test) in enumerate(pairs, 1):
            test.update(
                name=f"{kata.id} · {test['name']}",
                number=f"{kata.number}.{number}",
                visibility=config.visibility,
                extra_data={"kata": kata.name, "check": check.check},
            )
            tests.append(test)
    return {
        "score": sum(result.score for result in results),
        # simple_format keeps the summary's lines; escaped, its text is shown as it is
        "output": html.escape(_summary(katas, results, upload), quote=False),
        "output_format": "simple_format",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": config.visibility,
        "stdout_visibility": "hidden",
        "extra_data": {
            "torch_katas": __version__,
            "max_score": sum(result.max_score for result in results),
            "katas": extra,
            "ignored": upload.ignored,
        },
        "tests": tests,
    }


def grade_upload(submission: Path, config: Config) -> dict[str, Any]:
    """Grade one student's upload for every kata of the assignment, in turn on one lane."""
    katas = config.select()
    upload = match(submission, katas)
    seed = secrets.randbelow(2**31)
    lane = None
    if upload.files:
        uploaded = [kata for kata in katas if kata.id in upload.files]
        lane = Lane(
            Limits(check_seconds=config.check_seconds), preload=catalog.worker_imports(uploaded)
        )
        lane.start()  # the worker warms up while the judge imports torch and pytest
        import_judge().open_session(uploaded)  # their checks collected once, in one session
    try:
        results = [_grade(kata, upload, lane, seed) for kata in katas]
    finally:
        if lane is not None:
            lane.close()
    return _document(katas, results, upload, config)


def _autograder_failed(problem: str) -> dict[str, Any]:
    """results.json when the autograder itself is broken: one informational test says so."""
    message = f"The autograder failed ({problem}): it is not your fault, tell your instructor"
    return {
        "score": 0.0,
        "output": html.escape(message, quote=False),
        "stdout_visibility": "hidden",
        "tests": [{"name": "the autograder", "status": "failed", "output": message}],
    }


def run(root: Path) -> dict[str, Any]:
    """Grade root/submission/ as root/source/torch-katas.json says, into root/results/."""
    started = time.monotonic()
    try:
        config = Config.read(root / "source" / CONFIG)
        config.select()
    except (OSError, ValueError, KeyError, TypeError, UnknownKata) as exc:
        results = _autograder_failed(f"its {CONFIG} is not right: {exc}")
    else:
        try:
            results = grade_upload(root / "submission", config)
        except Exception as exc:  # whatever broke, Gradescope gets a results.json that says so
            results = _autograder_failed(f"{type(exc).__name__}: {exc}")
    results["execution_time"] = round(time.monotonic() - started, 3)
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "results.json.partial"
    partial.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    partial.replace(folder / "results.json")
    return results


# -- the command ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade gradescope", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write the autograder zip")
    make.add_argument("--katas", help="e.g. ex01-ex05 or ex01,ex03 (default: every kata)")
    make.add_argument("-o", "--out", type=Path, default=Path("autograder.zip"))
    make.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        default="visible",
        help="when students see each check's result (after_due_date: its details and their "
        "score only after the due date); default %(default)s",
    )
    make.add_argument("--time-limit", type=float, default=Limits.check_seconds, metavar="SECONDS")
    grade = commands.add_parser("run", help="grade one submission (run_autograder calls it)")
    grade.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")),
        help="holds source/, submission/ and results/ (default: $AUTOGRADER_ROOT or /autograder)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        results = run(args.root)
        print(html.unescape(results["output"]))  # for the instructor, in Gradescope's stdout
        return EXIT_PASSED  # a graded submission, whatever its score: Gradescope reads the file
    if args.time_limit <= 0:
        raise UsageError("--time-limit must be positive")
    try:
        katas = catalog.select(args.katas)
    except UnknownKata as exc:
        raise UsageError(str(exc)) from None
    config = Config(tuple(k.id for k in katas), args.visibility, args.time_limit)
    build(config, args.out)
    points = sum(k.points for k in katas)
    print(
        f"wrote {args.out}: {len(katas)} katas ({', '.join(config.katas)}), {points:g} points. "
        "Upload it as the autograder of a Gradescope programming assignment; students upload "
        f"exNN_slug.py files or notebooks, e.g. {katas[0].filename}"
    )
    return EXIT_PASSED
