"""A learner's workspace: exercises/ with their files, .grade/ with their progress.

`grade init DIR` makes one anywhere (the stubs from the installed package, a short README, a
marker file); every learner command finds it by walking up from the current directory, or
takes --workspace DIR. A source checkout of the project is a workspace too: its exercises/
are the learner's files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import __version__, catalog
from .catalog import Kata

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MARKER = ".torch-katas"
README = """\
# PyTorch katas

Each file in `exercises/` is a kata: a stub to fill in (or a bug to fix), graded by hidden
checks on fresh random inputs every time. Start with ex01 and go in order.

    grade watch          # re-grades the current kata on every save (h hint, n next, q quit)
    grade ex01           # grade one kata (also: grade 1, grade affine_params)
    grade                # every kata: your total and what is next
    grade hint ex01      # a hint, one level at a time (--all: every hint shown so far)
    grade reset ex01     # the original stub back (your file is backed up in .grade/)
    grade solution ex01  # the reference, once your file passes

Your progress is kept in `.grade/`; grading never writes into `exercises/`.
"""


class NoWorkspace(LookupError):
    """No workspace where the learner asked for one."""


class WorkspaceExists(FileExistsError):
    """`grade init` into a directory that is not empty (without --force)."""


@dataclass(frozen=True)
class Workspace:
    root: Path
    version: str  # the package version that made it
    stubs: dict[str, str]  # kata id -> the digest of the stub it was given

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def state_dir(self) -> Path:
        override = os.environ.get("KATAS_STATE_DIR")  # for tests: progress kept elsewhere
        return Path(override) if override else self.root / ".grade"

    def exercise_path(self, kata: Kata) -> Path:
        return self.exercises / kata.filename

    def made_by_another_version(self) -> str:
        """A note when this package's stubs differ from the ones the workspace was given."""
        changed = [
            k.id for k in catalog.katas() if self.stubs.get(k.id, k.stub_sha256) != k.stub_sha256
        ]
        if not changed:
            return ""
        return (
            f"this workspace was made by torch-katas {self.version} (this is {__version__}): the "
            f"stubs of {', '.join(changed)} have changed since; `grade reset exNN` gives this "
            "version's stub (your file is backed up first)"
        )


def _checkout(directory: Path) -> bool:
    """The project's own source checkout, whose exercises/ are a learner's files."""
    return (directory / "grader" / "katas.toml").is_file() and (directory / "exercises").is_dir()


def _read(root: Path) -> Workspace:
    if _checkout(root) and not (root / MARKER).is_file():
        catalog.keep_pristine_stubs()  # while they are: the learner edits these very files
        return Workspace(root, __version__, {k.id: k.stub_sha256 for k in catalog.katas()})
    try:
        marker = tomllib.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NoWorkspace(f"{root / MARKER} cannot be read ({exc})") from None
    stubs = marker.get("stubs", {})
    return Workspace(
        root, str(marker.get("version", "?")), stubs if isinstance(stubs, dict) else {}
    )


def find(start: Path | None = None, explicit: Path | None = None) -> Workspace:
    """The workspace given, or the first one at or above `start` (the current directory)."""
    if explicit is not None:
        root = explicit.resolve()
        if not ((root / MARKER).is_file() or _checkout(root)):
            raise NoWorkspace(f"{explicit} is not a torch-katas workspace (no {MARKER} file)")
        return _read(root)
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / MARKER).is_file() or _checkout(directory):
            return _read(directory)
    raise NoWorkspace(
        f"not in a torch-katas workspace ({here} and above have no {MARKER}): "
        "`grade init DIR` makes one, or pass --workspace DIR"
    )


def backup(workspace: Workspace, path: Path) -> Path:
    """A copy of a learner's file in .grade/backups/, before anything replaces it."""
    folder = workspace.state_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = folder / f"{path.stem}.{stamp}.{time.time_ns() % 10**6:06d}{path.suffix}"
    shutil.copyfile(path, copy)
    return copy


def create(
    directory: Path, *, force: bool = False, git: bool = False
) -> tuple[Workspace, list[Path]]:
    """A new workspace in `directory` (made if missing); the learner files it backed up.

    A directory with anything in it is refused unless `force`; then each exercise file that
    differs from its stub is backed up before the stub replaces it.
    """
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()) and not force:
        raise WorkspaceExists(f"{directory} is not empty: `grade init --force` to use it anyway")
    katas = catalog.katas()
    stubs = {kata: kata.stub_text() for kata in katas}  # all of them, before writing any
    directory.mkdir(parents=True, exist_ok=True)
    marker_lines = [f'# a torch-katas workspace\nversion = "{__version__}"\n\n[stubs]\n']
    marker_lines += [f'{kata.id} = "{kata.stub_sha256}"\n' for kata in katas]
    (directory / MARKER).write_text("".join(marker_lines), encoding="utf-8")
    workspace = _read(directory)
    workspace.exercises.mkdir(exist_ok=True)
    backups = []
    for kata, stub in stubs.items():
        path = workspace.exercise_path(kata)
        if path.exists() and path.read_text(encoding="utf-8", errors="replace") != stub:
            backups.append(backup(workspace, path))
        path.write_text(stub, encoding="utf-8")
    readme = directory / "README.md"
    if readme.exists() and readme.read_text(encoding="utf-8", errors="replace") != README:
        backups.append(backup(workspace, readme))
    readme.write_text(README, encoding="utf-8")
    (directory / ".gitignore").write_text(".grade/\n", encoding="utf-8")
    if git and shutil.which("git") and not (directory / ".git").exists():
        run = ["git", "-C", str(directory)]
        subprocess.run([*run, "init", "-q"], check=True)
        subprocess.run([*run, "add", "-A"], check=True)
        who = ["-c", "user.name=learner", "-c", "user.email=learner@localhost"]
        subprocess.run([*run, *who, "commit", "-qm", "torch-katas: the stubs"], check=True)
    return workspace, backups
