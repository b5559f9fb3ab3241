"""ex17 · Device-agnostic code (fill-in)

The same training script should run on an NVIDIA GPU ("cuda"), an Apple GPU
("mps") or the CPU, choosing at run time. Two habits make that work:

1. Ask what is there, in order of preference, and keep the answer as a
   torch.device object (not the string "cuda"): it is what .to(), tensor
   constructors and `tensor.device ==` comparisons speak.

       torch.cuda.is_available()            # an NVIDIA GPU and a CUDA build
       torch.backends.mps.is_available()    # Apple silicon

2. Move whole batches, not one tensor at a time. A batch is often a nested
   structure: {"x": tensor, "meta": {"ids": tensor, "name": "a"}, "pair": (t1, t2)}.
   Walk it: move every tensor, rebuild every container as the same kind
   (a tuple stays a tuple, a list a list, a dict keeps its keys), and leave
   everything else (ints, strings, None) as it is.

Pitfall: `list(obj)` or a list comprehension over a tuple gives a list, and
code that unpacks `x, y = batch` may not mind, but code that checks types or
uses tuples as dict keys will.
"""

from typing import Any

import torch


def pick_device() -> torch.device:
    """cuda if available, else mps if available, else cpu, as a torch.device."""
    raise NotImplementedError


def move_to(obj: Any, device: torch.device | str) -> Any:
    """A copy of obj with every tensor moved to `device`, walking dicts, lists and tuples."""
    raise NotImplementedError
