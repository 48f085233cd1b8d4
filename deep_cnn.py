"""Exercise 10-1, "implement CNN more layers": a deeper plain CNN with batch normalisation.

    python deep_cnn.py --data-dir ../shared/data            # the fast recipe (its default)
    python deep_cnn.py --recipe lecture                      # the lecture's SGD settings

Five 3x3 convolutions in three blocks instead of the simple CNN's two 5x5 ones, each followed
by batch normalisation and ReLU; max pooling between blocks, dropout before the classifier.
What a run reaches, measured over seeds: `python deep_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds deep_cnn --record`).
What depth buys: the README's table sets it beside the simple CNN; the batch norm lets it
train at lr 0.1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
FAST = {"epochs": 6, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "schedule": "onecycle", "augment": 2}
DEFAULT_RECIPE = "fast"  # when --recipe is not given


class ConvBlock(nn.Module):
    """3x3 convolution (no bias: batch norm adds one), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, width: int = 16, dropout: float = 0.25, num_classes: int = 10) -> None:
        super().__init__()
        w = width
        self.block1 = nn.Sequential(ConvBlock(1, w), ConvBlock(w, 2 * w))
        self.block2 = nn.Sequential(ConvBlock(2 * w, 2 * w), ConvBlock(2 * w, 4 * w))
        self.block3 = ConvBlock(4 * w, 4 * w, padding=0)
        self.mp = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        # 4w channels x 5 x 5: 28 -> pool 14 -> pool 7 -> unpadded 3x3 convolution 5
        self.fc = nn.Linear(4 * w * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28; with the default width 16:
        x = self.mp(self.block1(x))  # N x 32 x 14 x 14
        x = self.mp(self.block2(x))  # N x 64 x 7 x 7
        x = self.block3(x)  # N x 64 x 5 x 5
        x = self.dropout(x.flatten(1))  # N x 1600
        x = self.fc(x)  # N x 10
        return F.log_softmax(x, dim=1)


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
