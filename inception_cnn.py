"""Lecture 10, slides "Inception Module": two InceptionA blocks between the simple CNN's layers.

    python inception_cnn.py --epochs 10
    python inception_cnn.py --data-dir ../shared/data

What a run reaches, measured over seeds: `python inception_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds inception_cnn --record`).
The slide shows 98.66%.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
# 2 epochs pass 99.0%. Without batch norm the network can blow up early at this rate (it did
# under --recipe handwriting, seed 3): each step's gradients are clipped to a norm of 1.
FAST = {"epochs": 2, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "grad_clip": 1.0, "schedule": "onecycle", "augment": 0}
DEFAULT_RECIPE = "lecture"  # when --recipe is not given


class InceptionA(nn.Module):
    """The slide's four branches; every branch keeps the spatial size, 16+24+24+24 = 88 out."""

    out_channels = 16 + 24 + 24 + 24

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)

        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)

        self.branch3x3dbl_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3dbl_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)

        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x H x W
        branch1x1 = self.branch1x1(x)  # N x 16 x H x W

        branch5x5 = self.branch5x5_1(x)  # N x 16 x H x W
        branch5x5 = self.branch5x5_2(branch5x5)  # N x 24 x H x W

        branch3x3dbl = self.branch3x3dbl_1(x)  # N x 16 x H x W
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)  # N x 24 x H x W
        branch3x3dbl = self.branch3x3dbl_3(branch3x3dbl)  # N x 24 x H x W

        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)  # N x C x H x W
        branch_pool = self.branch_pool(branch_pool)  # N x 24 x H x W

        outputs = [branch1x1, branch5x5, branch3x3dbl, branch_pool]
        return torch.cat(outputs, 1)  # N x 88 x H x W


class Net(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(InceptionA.out_channels, 20, kernel_size=5)

        self.incept1 = InceptionA(in_channels=10)
        self.incept2 = InceptionA(in_channels=20)

        self.mp = nn.MaxPool2d(2)
        # 88 channels x 4 x 4: the same 28 -> 24 -> 12 -> 8 -> 4 as the simple CNN, but the
        # second InceptionA widens 20 channels to 88.
        self.fc = nn.Linear(1408, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28
        x = F.relu(self.mp(self.conv1(x)))  # N x 10 x 12 x 12
        x = self.incept1(x)  # N x 88 x 12 x 12
        x = F.relu(self.mp(self.conv2(x)))  # N x 20 x 4 x 4
        x = self.incept2(x)  # N x 88 x 4 x 4
        x = x.flatten(1)  # N x 1408
        x = self.fc(x)  # N x 10
        return F.log_softmax(x, dim=1)


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
