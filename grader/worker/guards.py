"""Sees which aten operators learner code reaches, whatever Python path it took.

A kata that says "write it yourself" lists the operators behind the library
call (``F.cross_entropy`` and ``torch._C._nn.nll_loss`` both end in
``aten.nll_loss_forward``). A dispatch mode sees every operator that runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def forbidding(op_names: list[str]) -> Iterator[set[str]]:
    used: set[str] = set()
    if not op_names:
        yield used
        return
    from torch.utils._python_dispatch import TorchDispatchMode

    watched = set(op_names)

    class Watch(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # True would wrap us in torch._dynamo.disable: seconds of imports

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            packet = func.overloadpacket.__name__
            if packet in watched:
                used.add(packet)
            return func(*args, **(kwargs or {}))

    with Watch():
        yield used
