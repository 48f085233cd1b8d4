"""Exercise 10-2 with residuals: Inception-ResNet-v2 (Szegedy et al. 2016), sized for 28x28.

    python inception_resnet_v2_cnn.py --data-dir ../shared/data     # the fast recipe (default)

What a run reaches, measured over seeds: `python inception_resnet_v2_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds inception_resnet_v2_cnn --record`).
Other settings tried: docs/performance.md.

Every part of the paper's Inception-ResNet-v2 is here (Figures 16-19, and reduction-A of
Figure 7 with k, l, m, n = 256, 256, 384, 384), in the layout and with the names of the
released weights as the widely used PyTorch port has them (Cadene's pretrained-models
`inceptionresnetv2.py`), so a state_dict reads like that port's. The released network's
stem is not the paper's Figure 3 but the one kept here: conv2d_1a, conv2d_2a, conv2d_2b,
maxpool_3a, conv2d_3b, conv2d_4a, maxpool_5a and mixed_5b. Then 10 x Block35
(Inception-ResNet-A) in `repeat`, mixed_6a (reduction-A), 20 x Block17 (Inception-ResNet-B)
in `repeat_1`, mixed_7a (reduction-B), 9 x Block8 (Inception-ResNet-C) in `repeat_2` and one
more without the final ReLU (`block8`), conv2d_7b, average pooling, dropout, `last_linear`.
Each residual block adds its branches, joined by a 1x1 convolution and scaled (0.17, 0.10,
0.20: the paper's section 3.3, which keeps very deep residual Inceptions from dying early in
training), to its input, then applies a ReLU.

What changed from the paper's 299x299 network, and why:
- conv2d_1a has stride 1 (the paper: 2) and every unpadded convolution and max pooling of
  the stem and of both reductions is padded, so each stride-2 step halves the grid
  (rounding up): 28 -> 14 (maxpool_3a) -> 7 (maxpool_5a) for the Block35s (the paper:
  35x35), 4 for the Block17s (17x17), 2 for the Block8s (8x8). With the paper's stem a
  28x28 digit would be 1x1 before the first Block35.
- Average pooling is adaptive (2x2 -> 1x1) instead of a fixed 8x8 window.
- Every channel count is the paper's times `width` (default 1/8: conv2d_7b gives 192
  channels, not 1536); MNIST needs nowhere near 54M parameters, and a CPU epoch stays at
  minutes. width=1.0 restores the paper's widths: every parameter tensor then has the
  port's name and shape (tested), except conv2d_1a's (one grey input channel, not three)
  and last_linear's (ten classes, not ImageNet's 1000).
- Dropout (the paper keeps 0.8, i.e. drops 0.2) before last_linear, as the paper has it;
  the port leaves it out.
- One input channel (grey) instead of three, ten classes.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

# the building blocks it shares with Inception-v4: the same paper, the same released layout
from blocks import BasicConv2d, Reduction_A, avg_pool, max_pool, scaled


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
# batch 256: 112 s against 130 s a CPU epoch.
FAST = {"epochs": 6, "batch_size": 256, "lr": 0.2, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "schedule": "onecycle", "augment": 1}
DEFAULT_RECIPE = "fast"  # when --recipe is not given


class Mixed_5b(nn.Module):
    """The stem's last block: 1x1, 5x5, double 3x3 and average-pool branches, 7 x 7."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = BasicConv2d(in_channels, c(96), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(48), 1),
                                     BasicConv2d(c(48), c(64), 5))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, c(64), 1),
                                     BasicConv2d(c(64), c(96), 3),
                                     BasicConv2d(c(96), c(96), 3))
        self.branch3 = nn.Sequential(avg_pool(), BasicConv2d(in_channels, c(64), 1))
        self.out_channels = c(96) + c(64) + c(96) + c(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Block35(nn.Module):
    """Inception-ResNet-A (Figure 16): x + scale * conv2d(1x1 | 3x3 | double 3x3), ReLU; 7 x 7."""

    def __init__(self, in_channels: int, w: float, scale: float = 0.17) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.scale = scale
        self.branch0 = BasicConv2d(in_channels, c(32), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(32), 1),
                                     BasicConv2d(c(32), c(32), 3))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, c(32), 1),
                                     BasicConv2d(c(32), c(48), 3),
                                     BasicConv2d(c(48), c(64), 3))
        self.conv2d = nn.Conv2d(c(32) + c(32) + c(64), in_channels, kernel_size=1)
        self.relu = nn.ReLU()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Mixed_6a(Reduction_A):
    """Reduction-A (Figure 7) with Inception-ResNet-v2's k, l, m, n = 256, 256, 384, 384."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__(in_channels, w, klmn=(256, 256, 384, 384))


class Block17(nn.Module):
    """Inception-ResNet-B (Figure 17): x + scale * conv2d(1x1 | 1x7 -> 7x1), ReLU; 4 x 4."""

    def __init__(self, in_channels: int, w: float, scale: float = 0.10) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.scale = scale
        self.branch0 = BasicConv2d(in_channels, c(192), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(128), 1),
                                     BasicConv2d(c(128), c(160), (1, 7)),
                                     BasicConv2d(c(160), c(192), (7, 1)))
        self.conv2d = nn.Conv2d(c(192) + c(192), in_channels, kernel_size=1)
        self.relu = nn.ReLU()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Mixed_7a(nn.Module):
    """Reduction-B (Figure 18): 4 x 4 -> 2 x 2."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch0 = nn.Sequential(BasicConv2d(in_channels, c(256), 1),
                                     BasicConv2d(c(256), c(384), 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(256), 1),
                                     BasicConv2d(c(256), c(288), 3, stride=2))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, c(256), 1),
                                     BasicConv2d(c(256), c(288), 3),
                                     BasicConv2d(c(288), c(320), 3, stride=2))
        self.branch3 = max_pool()
        self.out_channels = c(384) + c(288) + c(320) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class Block8(nn.Module):
    """Inception-ResNet-C (Figure 19): x + scale * conv2d(1x1 | 1x3 -> 3x1), ReLU; 2 x 2."""

    def __init__(self, in_channels: int, w: float, scale: float = 0.20,
                 no_relu: bool = False) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.scale = scale
        self.branch0 = BasicConv2d(in_channels, c(192), 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_channels, c(192), 1),
                                     BasicConv2d(c(192), c(224), (1, 3)),
                                     BasicConv2d(c(224), c(256), (3, 1)))
        self.conv2d = nn.Conv2d(c(192) + c(256), in_channels, kernel_size=1)
        self.relu = nn.Identity() if no_relu else nn.ReLU()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Net(nn.Module):
    def __init__(self, width: float = 1 / 8, dropout: float = 0.2,
                 num_classes: int = 10) -> None:
        super().__init__()
        w = width
        c = functools.partial(scaled, width=w)
        self.conv2d_1a = BasicConv2d(1, c(32), 3)  # stride 1 (the paper: 2)
        self.conv2d_2a = BasicConv2d(c(32), c(32), 3)
        self.conv2d_2b = BasicConv2d(c(32), c(64), 3)
        self.maxpool_3a = max_pool()
        self.conv2d_3b = BasicConv2d(c(64), c(80), 1)
        self.conv2d_4a = BasicConv2d(c(80), c(192), 3)
        self.maxpool_5a = max_pool()
        self.mixed_5b = Mixed_5b(c(192), w)
        a = self.mixed_5b.out_channels
        self.repeat = nn.Sequential(*(Block35(a, w, scale=0.17) for _ in range(10)))
        self.mixed_6a = Mixed_6a(a, w)
        b = self.mixed_6a.out_channels
        self.repeat_1 = nn.Sequential(*(Block17(b, w, scale=0.10) for _ in range(20)))
        self.mixed_7a = Mixed_7a(b, w)
        c8 = self.mixed_7a.out_channels
        self.repeat_2 = nn.Sequential(*(Block8(c8, w, scale=0.20) for _ in range(9)))
        self.block8 = Block8(c8, w, scale=1.0, no_relu=True)
        self.conv2d_7b = BasicConv2d(c8, c(1536), 1)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(c(1536), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28; channel counts for the default width 1/8
        x = self.conv2d_1a(x)  # N x 4 x 28 x 28
        x = self.conv2d_2a(x)  # N x 4 x 28 x 28
        x = self.conv2d_2b(x)  # N x 8 x 28 x 28
        x = self.maxpool_3a(x)  # N x 8 x 14 x 14
        x = self.conv2d_3b(x)  # N x 10 x 14 x 14
        x = self.conv2d_4a(x)  # N x 24 x 14 x 14
        x = self.maxpool_5a(x)  # N x 24 x 7 x 7
        x = self.mixed_5b(x)  # N x 40 x 7 x 7
        x = self.repeat(x)  # 10 x Block35: N x 40 x 7 x 7
        x = self.mixed_6a(x)  # N x 136 x 4 x 4
        x = self.repeat_1(x)  # 20 x Block17: N x 136 x 4 x 4
        x = self.mixed_7a(x)  # N x 260 x 2 x 2
        x = self.repeat_2(x)  # 9 x Block8: N x 260 x 2 x 2
        x = self.block8(x)  # N x 260 x 2 x 2
        x = self.conv2d_7b(x)  # N x 192 x 2 x 2
        x = self.avgpool_1a(x).flatten(1)  # N x 192
        x = self.last_linear(self.dropout(x))  # N x 10
        return F.log_softmax(x, dim=1)


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
