"""One picture through a network, to look at it: the shapes, the flatten size, the layers."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The network in eval mode inside the block, and in the mode it had after it, whatever
    happens (a network that trains is looked at between two of its batches)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def probe(model: nn.Module, hooks: list[RemovableHandle],
          image: torch.Tensor | None = None) -> torch.Tensor:
    """Run one 1 x 28 x 28 image (zeros unless given) through `model` in eval mode, without
    gradients; the `hooks` the caller registered are removed after it, and the network's
    mode is restored, whatever happens."""
    device = next(model.parameters()).device
    x = torch.zeros(1, 28, 28) if image is None else image
    try:
        with evaluating(model), torch.inference_mode():
            return model(x[None].to(device))  # 1 x 10
    finally:
        for hook in hooks:
            hook.remove()
