"""ex17 · Device-agnostic code (fill-in)

The same training script should run on an NVIDIA or AMD GPU ("cuda"), an
Apple GPU ("mps") or the CPU, choosing at run time. Three habits make that work:

1. Ask what is there, in order of preference, and keep the answer as a
   torch.device object (not the string "cuda"): it is what .to(), tensor
   constructors and `tensor.device ==` comparisons speak.

       torch.cuda.is_available()            # a GPU and a build for it: NVIDIA with
                                            # CUDA, or AMD with ROCm (also "cuda")
       torch.backends.mps.is_available()    # Apple silicon

2. Move whole batches, not one tensor at a time. A batch is often a nested
   structure: {"x": tensor, "meta": {"ids": tensor, "name": "a"}, "pair": (t1, t2)}.
   Walk it: move every tensor, rebuild every container as the same kind
   (a tuple stays a tuple, a list a list, a dict keeps its keys), and leave
   everything else (ints, strings, None) as it is.

3. Move the model before it meets the batch. The two .to methods differ:

       x = x.to(device)     # Tensor.to returns a moved COPY (x itself if already there)
       model.to(device)     # Module.to moves the model IN PLACE and returns it

   Module.to moves every parameter and every buffer: tensors a model uses but
   does not train, such as batch norm's running_mean (model.buffers() lists
   them; model.parameters() does not).

Pitfalls: `x.to(device)` on a line of its own moves nothing (the copy is
thrown away). And `list(obj)` or a list comprehension over a tuple gives a
list; code that unpacks `x, y = batch` may not mind, but code that checks
types or uses tuples as dict keys will.
"""

from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    """cuda if available, else mps if available, else cpu, as a torch.device."""
    raise NotImplementedError


def move_to(obj: Any, device: torch.device | str) -> Any:
    """A copy of obj with every tensor moved to `device`, walking dicts, lists and tuples."""
    raise NotImplementedError


def prepare(model: nn.Module, batch: Any, device: torch.device | str) -> tuple[nn.Module, Any]:
    """Move model (every parameter and buffer, in place) and every tensor of batch to `device`.
    Returns (model, moved batch): the same model object it was given."""
    raise NotImplementedError
