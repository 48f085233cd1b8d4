"""Training-time augmentation: changes to a batch of images, made on their device."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from common import MNIST_MEAN, MNIST_STD


def random_shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move each image by its own random offset of up to `pixels` in x and y (--augment)."""
    n, _, h, w = images.shape
    background = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation
    padded = F.pad(images[:, 0], (pixels,) * 4, value=background)  # N x (h+2p) x (w+2p)
    offsets = torch.randint(0, 2 * pixels + 1, (n, 2), device=images.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # N x h
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # N x w
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # N x 1 x h x w
