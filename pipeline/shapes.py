"""The lecture's first lesson: `Linear(100, 10)` fails, because the flattened output is 320.

Before any data is loaded, one 28 x 28 image runs through the network with a check in front
of every Linear, convolution and batch norm. A layer that receives what it was not built
for stops the script with one message: the layer, what it received, what it expects, and
the line that fits, instead of a matrix-multiply traceback from inside the first batch.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import UserError
from .probe import probe


def _linear(name: str, m: nn.Linear, x: torch.Tensor) -> str | None:
    got = x.shape[-1]
    if got == m.in_features:
        return None
    return (f"{name} = Linear({m.in_features}, {m.out_features}) receives {got} features per "
            f"image (the flattened output of the layers before it is {got} per image), but "
            f"expects {m.in_features}: so {name} = nn.Linear({got}, {m.out_features}), and "
            f"the shape comment on the flatten line of forward: # N x {got}")


def _conv(name: str, m: nn.Conv2d, x: torch.Tensor) -> str | None:
    got = x.shape[1]
    if got == m.in_channels:
        return None
    rest = f"kernel_size={m.kernel_size[0] if len(set(m.kernel_size)) == 1 else m.kernel_size}"
    return (f"{name} = Conv2d({m.in_channels}, {m.out_channels}, ...) receives {got} channels "
            f"(the output of the layer before it), but expects {m.in_channels}: so {name} = "
            f"nn.Conv2d({got}, {m.out_channels}, {rest}, ...)")


def _batch_norm(name: str, m: nn.BatchNorm2d, x: torch.Tensor) -> str | None:
    got = x.shape[1]
    if got == m.num_features:
        return None
    return (f"{name} = BatchNorm2d({m.num_features}) receives {got} channels, but expects "
            f"{m.num_features}: so {name} = nn.BatchNorm2d({got})")


CHECKS = {nn.Linear: _linear, nn.Conv2d: _conv, nn.BatchNorm2d: _batch_norm}


def check_shapes(model: nn.Module, network: str) -> None:
    """Run one 1 x 28 x 28 zero image; a layer that does not fit is a UserError naming it."""
    running: list[str] = []

    def before(name: str, module: nn.Module, inputs: tuple) -> None:
        running.append(name)
        check = CHECKS.get(type(module))
        problem = check(name, module, inputs[0]) if check and inputs else None
        if problem:
            raise UserError(f"{network}.py: {problem}")

    hooks = [m.register_forward_pre_hook(lambda m, inp, name=name: before(name, m, inp))
             for name, m in model.named_modules() if name and not list(m.children())]
    try:
        probe(model, hooks)
    except RuntimeError as e:  # a grid too small for a kernel, a view that does not fit
        where = f" in {running[-1]}" if running else ""
        raise UserError(f"{network}.py: one 28 x 28 image cannot pass through the network"
                        f"{where}: {str(e).splitlines()[0]}") from None
