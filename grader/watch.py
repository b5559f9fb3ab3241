"""`grade watch`: re-grade the current kata every time its file is saved.

The worker stays warm between runs, so a re-grade costs a fraction of a second.
File events come from watchfiles (which polls by itself where a file system has
no events, as on WSL mounts); without watchfiles the file is polled here. Keys:
q quits, h shows the next hint, l lists the katas, n moves on to the next kata not passed
yet, once this one passes.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

from . import progress
from .catalog import Kata
from .grading import grade_file
from .lanes import Lane
from .reporters import console, overview, report
from .results import fingerprint
from .workspace import Workspace

POLL_SECONDS = 0.2
SETTLE_SECONDS = 0.05  # editors save in several writes: let them finish


class FileWatch:
    """Tells when a file's content may have changed, by events or by polling."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._event = threading.Event()
        self._stop = threading.Event()
        try:
            import watchfiles
        except ImportError:
            return  # polling only: changed() compares content every time it is asked
        thread = threading.Thread(target=self._listen, args=(watchfiles,), daemon=True)
        thread.start()

    def _listen(self, watchfiles) -> None:
        for _ in watchfiles.watch(
            self.path.parent, stop_event=self._stop, debounce=50, raise_interrupt=False
        ):
            self._event.set()

    def maybe_changed(self) -> bool:
        hit = self._event.is_set()
        self._event.clear()
        return hit

    def close(self) -> None:
        self._stop.set()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _keys() -> Iterator[callable]:
    """A function that returns a pressed key or '' after a short wait (no Enter needed)."""
    fd = sys.stdin.fileno() if sys.stdin and not sys.stdin.closed else -1
    interactive = fd >= 0 and os.isatty(fd)
    saved = termios.tcgetattr(fd) if interactive else None
    if interactive:
        tty.setcbreak(fd)

    def read_key(timeout: float) -> str:
        if not interactive:
            threading.Event().wait(timeout)
            return ""
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 1).decode(errors="ignore").lower() if ready else ""

    try:
        yield read_key
    finally:
        if interactive:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


KEYS = "q quit · h hint · l list · n next kata (once it passes)"


def watch(kata: Kata | None, lane: Lane, place: Workspace) -> int:
    out = console()
    if kata is None:
        out.print("Every kata passes! Nothing to watch.")
        lane.close()
        return 0
    passed = False
    last_graded = None
    path = place.exercise_path(kata)
    files = FileWatch(path)

    def regrade() -> None:
        nonlocal passed, last_graded
        last_graded = fingerprint(_read(path))
        out.clear()
        out.print(f"[dim]watching {path} ({KEYS})[/dim]")
        result = grade_file(kata, path, lane, workspace=place)
        passed = result.passed
        out.print(report(result, kata, keys=KEYS))
        if passed:
            following = progress.first_unpassed(place, after=kata)
            out.print(
                f"[bold green]{kata.id} passes![/bold green] "
                + (
                    f"Press n for {following.id} ({following.title})."
                    if following
                    else "Every kata passes!"
                )
            )

    try:
        with _keys() as read_key:
            regrade()
            while True:
                key = read_key(POLL_SECONDS)
                if key == "q":
                    return 0
                if key == "h":
                    out.print(progress.next_hint(place, kata))
                elif key == "l":
                    out.print(
                        overview(progress.overview_rows(place), progress.first_unpassed(place))
                    )
                elif key == "n" and passed and progress.first_unpassed(place, after=kata):
                    files.close()
                    kata = progress.first_unpassed(place, after=kata)
                    path = place.exercise_path(kata)
                    files = FileWatch(path)
                    regrade()
                elif files.maybe_changed() or fingerprint(_read(path)) != last_graded:
                    threading.Event().wait(SETTLE_SECONDS)
                    if fingerprint(_read(path)) != last_graded:
                        regrade()
    finally:
        files.close()
        lane.close()
