"""Training-time augmentation: each image changed as people's writing differs, on its device.

--augment shifts each training image by its own random amount; --rotate, --scale and --shear
move it with the shift in one batched affine_grid / grid_sample, and --thickness makes its
ink bolder or thinner (max-pooling dilation and erosion). Images are normalised
(common.normalise): paper is -0.42, full ink 2.82.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from common import MNIST_MEAN, MNIST_STD

PAPER = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation


def thicken(images: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W -> the same with each image's ink bolder (amount > 0) or thinner (< 0).

    amount (N, in -2..2) is in pixels on each side of a stroke: 1 is the image's 3 x 3
    dilation (max-pooling), 2 that dilated again, 1.5 halfway between; -1 and -2 the same
    with erosion (max-pooling of the negated image).
    """
    a = amount.view(-1, 1, 1, 1)
    out = images
    for sign in (1, -1):
        grown = images
        for k in range(2):  # one pixel, then a second
            step = sign * F.max_pool2d(sign * grown, 3, stride=1, padding=1)
            out = out + (sign * a - k).clamp(0, 1) * (step - grown)
            grown = step
    return out


def warp(images: torch.Tensor, shift_x: torch.Tensor, shift_y: torch.Tensor,
         rotate: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W (square) -> each image moved about its centre, one value per image (N):
    sheared by `shear` degrees (x leans by tan(shear) per row), scaled by `scale`, rotated
    `rotate` degrees anticlockwise as seen, then shifted `shift_x` pixels right and `shift_y`
    down. What comes in from outside the frame is paper."""
    n, _, h, w = images.shape
    a, s = torch.deg2rad(rotate), torch.tan(torch.deg2rad(shear))
    cos, sin = torch.cos(a) * scale, torch.sin(a) * scale
    # the forward map (x right, y down, -1..1): [x', y'] = R S Sh [x, y] + t; R turns
    # anticlockwise on the screen, so with y down it is [[cos, sin], [-sin, cos]]
    forward = torch.stack([torch.stack([cos, cos * s + sin], -1),
                           torch.stack([-sin, -sin * s + cos], -1)], -2)  # N x 2 x 2
    t = torch.stack([shift_x * 2 / w, shift_y * 2 / h], -1).unsqueeze(-1)  # N x 2 x 1
    inverse = torch.linalg.inv(forward)  # grid_sample asks, for each output pixel, where from
    theta = torch.cat([inverse, -inverse @ t], -1)  # N x 2 x 3
    grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    moved = F.grid_sample(images - PAPER, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return moved + PAPER


@dataclass(frozen=True)
class Augmentation:
    """Each image's own random change, uniform in +-its setting: the recipe's shift
    (--augment, pixels), rotate and shear (degrees), scale (a fraction) and thickness (pixels
    bolder, or up to half of that thinner)."""
    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    thickness: float = 0.0

    @classmethod
    def of(cls, settings) -> Augmentation | None:
        """The run's augmentation, or None when its recipe has none."""
        a = cls(settings.augment, settings.rotate, settings.scale, settings.shear,
                settings.thickness)
        return a if any((a.shift, a.rotate, a.scale, a.shear, a.thickness)) else None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """N x 1 x H x W -> the same, changed; random numbers from torch's generator of the
        images' device, drawn in a fixed order, so a seed (and a resume) repeats it. A shift
        alone moves whole pixels, as the fast recipes were measured with."""
        n, device = len(images), images.device
        if self.thickness:  # MNIST's strokes are thin already: thinner by at most half
            images = thicken(images, self.thickness * (torch.rand(n, device=device) * 1.5 - 0.5))
        if self.rotate or self.scale or self.shear:
            u = torch.rand(5, n, device=device) * 2 - 1  # 5 x N in -1..1
            images = warp(images, self.shift * u[0], self.shift * u[1], self.rotate * u[2],
                          1 + self.scale * u[3], self.shear * u[4])
        elif self.shift:
            images = random_shift(images, int(self.shift))
        return images


def random_shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move each image by its own random whole-pixel offset of up to `pixels` in x and y."""
    n, _, h, w = images.shape
    padded = F.pad(images[:, 0], (pixels,) * 4, value=PAPER)  # N x (h+2p) x (w+2p)
    offsets = torch.randint(0, 2 * pixels + 1, (n, 2), device=images.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # N x h
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # N x w
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # N x 1 x h x w
