"""Building blocks that several networks share, from the papers that define them.

`BasicConv2d` is torchvision's and the Inception papers' unit (convolution, batch norm,
ReLU), used by Inception v3, v4 and Inception-ResNet-v2; `Reduction_A` is Figure 7 of the
Inception-v4 paper, which both of its networks use with their own k, l, m, n.
"""
from __future__ import annotations

import torch
from torch import nn


def scaled(channels: int, width: float) -> int:
    """The paper's channel count times `width`, at least 1."""
    return max(1, round(channels * width))


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001, as torchvision and the released
    weights have it), ReLU.

    `padding` None pads by half the kernel: at stride 1 the grid is kept, at stride 2 halved
    (rounding up).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if padding is None:
            padding = (kh // 2, kw // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def max_pool() -> nn.MaxPool2d:
    """The Inception-v4 reductions' 3x3 stride-2 max pooling, padded: 28 -> 14 -> 7 -> 4 -> 2."""
    return nn.MaxPool2d(3, stride=2, padding=1)


def avg_pool() -> nn.AvgPool2d:
    """The pooling branch of the Inception-v4 blocks: 3x3, stride 1, keeps the grid."""
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Reduction_A(nn.Module):
    """Figure 7 of Inception-v4, 7 x 7 -> 4 x 4; its Table 1 gives k, l, m, n: 192, 224, 256,
    384 for Inception-v4, 256, 256, 384, 384 for Inception-ResNet-v2."""

    def __init__(self, in_channels: int, w: float,
                 klmn: tuple[int, int, int, int] = (192, 224, 256, 384)) -> None:
        super().__init__()
        k, l, m, n = (scaled(channels, w) for channels in klmn)
        self.branch0 = BasicConv2d(in_channels, n, 3, stride=2)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, k, 1),
                                     BasicConv2d(k, l, 3),
                                     BasicConv2d(l, m, 3, stride=2))
        self.branch2 = max_pool()
        self.out_channels = n + m + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 7 x 7
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)  # 4 x 4
