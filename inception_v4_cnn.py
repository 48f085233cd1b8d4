"""Exercise 10-2, "implement full inception v4": Szegedy et al. 2016, sized for 28x28 MNIST.

    python inception_v4_cnn.py --data-dir ../shared/data     # the fast recipe (its default)

What a run reaches, measured over seeds: `python inception_v4_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds inception_v4_cnn --record`). Shorter
runs of the same recipe: docs/performance.md.

Every part of the paper's Inception-v4 (Figures 3-9) is here, with the block and layer names
of the widely used PyTorch port of the released weights (Cadene's pretrained-models
`inceptionv4.py`), so a state_dict reads like that port's: `features` holds the stem (three
BasicConv2d, Mixed_3a, Mixed_4a, Mixed_5a), 4 x Inception_A, Reduction_A (k, l, m, n = 192,
224, 256, 384; the paper's Mixed_6a), 7 x Inception_B, Reduction_B (Mixed_7a) and
3 x Inception_C; then average pooling, dropout (the paper keeps 0.8, i.e. drops 0.2) and
`last_linear`. Each BasicConv2d is a convolution without bias, batch norm with eps 0.001 and
a ReLU.

What changed from the paper's 299x299 network, and why:
- The stem's three convolutions have stride 1 and padding 1 (the paper: the first two
  unpadded, the first with stride 2), and every unpadded ("V") convolution and max pooling
  of Mixed_3a, Mixed_4a, Mixed_5a and both reductions is padded, so each stride-2 step
  halves the grid (rounding up): 28 -> 14 (Mixed_3a) -> 7 (Mixed_5a) for Inception-A (the
  paper: 35x35), 4 for Inception-B (17x17), 2 for Inception-C (8x8). With the paper's stem
  a 28x28 digit would be 1x1 before Inception-A.
- Average pooling is adaptive (2x2 -> 1x1) instead of a fixed 8x8 window.
- Every channel count is the paper's times `width` (default 1/8: the last block gives 192
  channels, not 1536); MNIST needs nowhere near 41M parameters, and a CPU epoch stays at
  minutes. width=1.0 restores the paper's widths: every parameter tensor then has the
  port's name and shape (tested), except the first convolution's (one grey input channel,
  not three) and last_linear's (ten classes, not ImageNet's 1000).
- One input channel (grey) instead of three, ten classes.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from blocks import BasicConv2d, Reduction_A, avg_pool, max_pool, scaled


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
# batch 256 (85 s against 113 s a CPU epoch); every 8-epoch setting tried ended at
# 99.22-99.42%, 12 epochs at 99.54% (docs/performance.md).
FAST = {"epochs": 12, "batch_size": 256, "lr": 0.2, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "schedule": "onecycle", "augment": 2}
DEFAULT_RECIPE = "fast"  # when --recipe is not given


class Mixed_3a(nn.Module):
    """Stem (Figure 3): max pooling beside a stride-2 convolution, 28 -> 14."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        self.maxpool = max_pool()
        self.conv = BasicConv2d(in_channels, scaled(96, w), 3, stride=2)
        self.out_channels = in_channels + scaled(96, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.maxpool(x), self.conv(x)), 1)


class Mixed_4a(nn.Module):
    """Stem (Figure 3): a 3x3 branch beside a 7x1 / 1x7 factorised one."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = nn.Sequential(BasicConv2d(in_channels, c(64), 1),
                                     BasicConv2d(c(64), c(96), 3))
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(64), 1),
                                     BasicConv2d(c(64), c(64), (1, 7)),
                                     BasicConv2d(c(64), c(64), (7, 1)),
                                     BasicConv2d(c(64), c(96), 3))
        self.out_channels = 2 * c(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x)), 1)


class Mixed_5a(nn.Module):
    """Stem (Figure 3): a stride-2 convolution beside max pooling, 14 -> 7."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, scaled(192, w), 3, stride=2)
        self.maxpool = max_pool()
        self.out_channels = scaled(192, w) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.conv(x), self.maxpool(x)), 1)


class Inception_A(nn.Module):
    """Figure 4: 1x1, 3x3, double 3x3 and average-pool branches of 96 channels each."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = BasicConv2d(in_channels, c(96), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(64), 1),
                                     BasicConv2d(c(64), c(96), 3))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, c(64), 1),
                                     BasicConv2d(c(64), c(96), 3),
                                     BasicConv2d(c(96), c(96), 3))
        self.branch3 = nn.Sequential(avg_pool(), BasicConv2d(in_channels, c(96), 1))
        self.out_channels = 4 * c(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 7 x 7; every branch keeps 7 x 7
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Inception_B(nn.Module):
    """Figure 5: 1x1, 1x7 / 7x1, double 7x1 / 1x7 and average-pool branches."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = BasicConv2d(in_channels, c(384), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(192), 1),
                                     BasicConv2d(c(192), c(224), (1, 7)),
                                     BasicConv2d(c(224), c(256), (7, 1)))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, c(192), 1),
                                     BasicConv2d(c(192), c(192), (7, 1)),
                                     BasicConv2d(c(192), c(224), (1, 7)),
                                     BasicConv2d(c(224), c(224), (7, 1)),
                                     BasicConv2d(c(224), c(256), (1, 7)))
        self.branch3 = nn.Sequential(avg_pool(), BasicConv2d(in_channels, c(128), 1))
        self.out_channels = c(384) + 2 * c(256) + c(128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 4 x 4; every branch keeps 4 x 4
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Reduction_B(nn.Module):
    """Figure 8: 4 x 4 -> 2 x 2."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = nn.Sequential(BasicConv2d(in_channels, c(192), 1),
                                     BasicConv2d(c(192), c(192), 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(256), 1),
                                     BasicConv2d(c(256), c(256), (1, 7)),
                                     BasicConv2d(c(256), c(320), (7, 1)),
                                     BasicConv2d(c(320), c(320), 3, stride=2))
        self.branch2 = max_pool()
        self.out_channels = c(192) + c(320) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Inception_C(nn.Module):
    """Figure 6: 1x1, a 1x3 | 3x1 split, 3x1 -> 1x3 -> a 1x3 | 3x1 split, average pool."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = BasicConv2d(in_channels, c(256), 1)
        self.branch1_0 = BasicConv2d(in_channels, c(384), 1)
        self.branch1_1a = BasicConv2d(c(384), c(256), (1, 3))
        self.branch1_1b = BasicConv2d(c(384), c(256), (3, 1))
        self.branch2_0 = BasicConv2d(in_channels, c(384), 1)
        self.branch2_1 = BasicConv2d(c(384), c(448), (3, 1))
        self.branch2_2 = BasicConv2d(c(448), c(512), (1, 3))
        self.branch2_3a = BasicConv2d(c(512), c(256), (1, 3))
        self.branch2_3b = BasicConv2d(c(512), c(256), (3, 1))
        self.branch3 = nn.Sequential(avg_pool(), BasicConv2d(in_channels, c(256), 1))
        self.out_channels = 6 * c(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 2 x 2; every branch keeps 2 x 2
        x1 = self.branch1_0(x)
        x2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return torch.cat((self.branch0(x), self.branch1_1a(x1), self.branch1_1b(x1),
                          self.branch2_3a(x2), self.branch2_3b(x2), self.branch3(x)), 1)


def stacked(block: type[nn.Module], count: int, in_channels: int, w: float) -> list[nn.Module]:
    """`count` blocks in a row, each fed by the one before."""
    blocks = []
    for _ in range(count):
        blocks.append(block(in_channels, w))
        in_channels = blocks[-1].out_channels
    return blocks


class Net(nn.Module):
    def __init__(self, width: float = 1 / 8, dropout: float = 0.2,
                 num_classes: int = 10) -> None:
        super().__init__()
        w = width
        c = functools.partial(scaled, width=w)
        blocks = [BasicConv2d(1, c(32), 3),  # 0: stride 1 and padded (the paper: stride 2, valid)
                  BasicConv2d(c(32), c(32), 3),  # 1
                  BasicConv2d(c(32), c(64), 3),  # 2
                  Mixed_3a(c(64), w)]  # 3
        blocks.append(Mixed_4a(blocks[-1].out_channels, w))  # 4
        blocks.append(Mixed_5a(blocks[-1].out_channels, w))  # 5
        blocks += stacked(Inception_A, 4, blocks[-1].out_channels, w)  # 6-9
        blocks.append(Reduction_A(blocks[-1].out_channels, w))  # 10 (Mixed_6a)
        blocks += stacked(Inception_B, 7, blocks[-1].out_channels, w)  # 11-17
        blocks.append(Reduction_B(blocks[-1].out_channels, w))  # 18 (Mixed_7a)
        blocks += stacked(Inception_C, 3, blocks[-1].out_channels, w)  # 19-21
        self.features = nn.Sequential(*blocks)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(blocks[-1].out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28; channel counts for the default width 1/8
        x = self.features[:3](x)  # N x 8 x 28 x 28
        x = self.features[3](x)  # Mixed_3a: N x 20 x 14 x 14
        x = self.features[4](x)  # Mixed_4a: N x 24 x 14 x 14
        x = self.features[5](x)  # Mixed_5a: N x 48 x 7 x 7
        x = self.features[6:10](x)  # 4 x Inception_A: N x 48 x 7 x 7
        x = self.features[10](x)  # Reduction_A: N x 128 x 4 x 4
        x = self.features[11:18](x)  # 7 x Inception_B: N x 128 x 4 x 4
        x = self.features[18](x)  # Reduction_B: N x 192 x 2 x 2
        x = self.features[19:](x)  # 3 x Inception_C: N x 192 x 2 x 2
        x = self.avg_pool(x).flatten(1)  # N x 192
        x = self.last_linear(self.dropout(x))  # N x 10
        return F.log_softmax(x, dim=1)


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
