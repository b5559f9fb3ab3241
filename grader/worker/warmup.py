"""Work that every run process would otherwise do for itself, done once in the warm worker.

A run process is a fork of its lane: whatever the worker imported or set up before forking,
each run starts with. A fresh process pays for its first forward and backward pass, its first
cross_entropy and its first optimizer step (caches, lazy imports: about 5 ms a run here), and
a run imported its kata's trusted scenarios from source (about 3 ms). Both are done here,
once, before the lanes fork. For a worker that will fork many runs, its memory also goes onto
huge pages first, so that each fork copies, and each exit frees, far fewer page-table entries.

Nothing here changes what a learner's code sees: the CPU generator is put back as it was (a
file that draws at import draws the same numbers), no setting is left changed, and no thread
is started (a fork copies only the forking thread).
"""

from __future__ import annotations

import ctypes
import importlib
import pkgutil
from functools import cache

import torch
import torch.nn.functional as F

from . import scenarios

HUGE_PAGE = 2 << 20
MADV_COLLAPSE = 25  # Linux 6.1: make huge pages of a range now, advised for them or not


@cache
def import_scenarios() -> None:
    """Every kata's scenarios (all of them together: about 20 ms, once)."""
    for info in pkgutil.iter_modules(scenarios.__path__):
        importlib.import_module(f"{scenarios.__name__}.{info.name}")


@cache
def first_steps() -> None:
    """One small forward and backward pass through a Linear layer, with a cross_entropy."""
    with torch.random.fork_rng(devices=[]):
        model = torch.nn.Linear(4, 3)
        x = torch.randn(5, 4, requires_grad=True)  # (B, n_in)
        loss = F.cross_entropy(torch.tanh(model(x)), torch.tensor([0, 1, 2, 1, 0]))
        loss.backward()
        with torch.no_grad():  # a manual update, as the SGD katas write it
            for p in model.parameters():
                p -= 0.1 * p.grad


@cache
def optimizer_steps() -> None:
    """A step of SGD and of AdamW. Called once torch._dynamo is imported: an optimizer's
    first step imports it (a second), which runs that need no optimizer should not wait for."""
    with torch.random.fork_rng(devices=[]):
        model = torch.nn.Linear(4, 3)
        for kind in (torch.optim.SGD, torch.optim.AdamW):
            optimizer = kind(model.parameters(), lr=0.1)
            model(torch.randn(2, 4)).sum().backward()
            optimizer.step()
            optimizer.zero_grad()


def onto_huge_pages() -> None:
    """Collapse our private writable memory onto 2 MiB pages. malloc's hugetlb tunable covers
    only the heap it grows from then on: Python's object arenas, and what torch's import put
    on the heap before, are on 4 KiB pages (half of it with torch, nine tenths once
    torch._dynamo is imported).

    Each huge page is one entry for a fork to copy and an exit to free instead of 512: a run
    forked after the preload costs about 5 ms less here, one forked before it 1.5 ms. A page
    a run writes to is still copied 4 KiB at a time (the kernel splits the huge mapping in
    the run, not here). 15 to 100 ms each time, or up to 1.5 s on a VM whose host backs memory
    on first touch (sandbox.HUGE_PAGES_FROM). Best effort: a kernel without MADV_COLLAPSE,
    or a range it cannot collapse, is left as it was.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()  # address range, permissions, offset, device, inode, path
            path = fields[5] if len(fields) > 5 else ""
            if not fields[1].startswith("rw") or path not in ("", "[heap]"):
                continue
            low, high = (int(end, 16) for end in fields[0].split("-"))
            start, stop = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
            if stop > start:
                libc.madvise(start, stop - start, MADV_COLLAPSE)
