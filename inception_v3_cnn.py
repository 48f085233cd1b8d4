"""Exercise 10-2, "implement full Inception v3": Szegedy et al. 2015, sized for 28x28 MNIST.

    python inception_v3_cnn.py --data-dir ../shared/data     # the fast recipe (its default)

What a run reaches, measured over seeds: `python inception_v3_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds inception_v3_cnn --record`).

Every part of the paper's network is here, with torchvision's block and layer names: the
stem, three Inception-A blocks (Mixed_5b/c/d), reduction-A (Mixed_6a), four Inception-B
blocks with factorised 1x7 / 7x1 convolutions (Mixed_6b..e), the auxiliary classifier on
Mixed_6e, reduction-B (Mixed_7a), two Inception-C blocks with expanded filter banks
(Mixed_7b/c), batch-normalised convolutions throughout, global average pooling, dropout, fc.
(torchvision calls the A/B/C blocks and the two reductions InceptionA, InceptionC, InceptionE,
InceptionB and InceptionD; the classes below use those names too.)

What changed from the paper's 299x299 network, and why:
- The stem keeps 28x28 instead of shrinking 299 -> 35: its first convolution has stride 1
  (not 2) and every stem convolution is padded, and only one of the two stem max-poolings
  stays, so the Inception-A blocks see a 14x14 grid (the paper: 35x35), Inception-B 6x6
  (17x17) and Inception-C 2x2 (8x8). With the paper's stem a 28x28 digit would vanish.
- Every channel count is the paper's times `width` (default 1/8: Mixed_7c gives 256
  channels, not 2048); MNIST needs nowhere near 24M parameters, and a CPU epoch stays at
  minutes. width=1.0 restores the paper's widths.
- The auxiliary classifier pools 6x6 -> 2x2 (average pool 3, stride 3) and ends in a 2x2
  convolution instead of pooling 17x17 -> 5x5 and a 5x5 convolution. In training its loss
  is added with weight 0.3 (the common pipeline does that for any network that returns
  (main, aux)); at test time only the main head counts.
- One input channel (grey) instead of three, ten classes.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from blocks import BasicConv2d, scaled


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
FAST = {"epochs": 4, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "schedule": "onecycle", "augment": 2}
DEFAULT_RECIPE = "fast"  # when --recipe is not given


class InceptionA(nn.Module):
    """Figure 5 of the paper: 1x1, 5x5 (torchvision's choice), double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch1x1 = BasicConv2d(in_channels, c(64), kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, c(48), kernel_size=1)
        self.branch5x5_2 = BasicConv2d(c(48), c(64), kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, c(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(c(64), c(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(c(96), c(96), kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)
        self.out_channels = c(64) + c(64) + c(96) + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 14 x 14; every branch keeps 14 x 14
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """Reduction-A (Figure 10): halves the grid with stride-2 branches, 14 x 14 -> 6 x 6."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch3x3 = BasicConv2d(in_channels, c(384), kernel_size=3, stride=2, padding=0)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, c(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(c(64), c(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(c(96), c(96), kernel_size=3, stride=2, padding=0)
        self.out_channels = c(384) + c(96) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 14 x 14
        branch3x3 = self.branch3x3(x)  # N x c(384) x 6 x 6
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)  # N x C x 6 x 6
        return torch.cat([branch3x3, branch3x3dbl, branch_pool], 1)


class InceptionC(nn.Module):
    """Inception-B of the paper (Figure 6): n x n factorised into 1 x 7 and 7 x 1."""

    def __init__(self, in_channels: int, channels_7x7: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, c(192), kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, c(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, c(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, c(192), kernel_size=1)
        self.out_channels = 4 * c(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 6 x 6; every branch keeps 6 x 6
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(branch7x7dbl))
        branch7x7dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(branch7x7dbl))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """Reduction-B: 6 x 6 -> 2 x 2 with stride-2 branches."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch3x3_1 = BasicConv2d(in_channels, c(192), kernel_size=1)
        self.branch3x3_2 = BasicConv2d(c(192), c(320), kernel_size=3, stride=2, padding=0)
        self.branch7x7x3_1 = BasicConv2d(in_channels, c(192), kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(c(192), c(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(c(192), c(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(c(192), c(192), kernel_size=3, stride=2, padding=0)
        self.out_channels = c(320) + c(192) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 6 x 6
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))  # N x c(320) x 2 x 2
        branch7x7x3 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(branch7x7x3))  # N x c(192) x 2 x 2
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)  # N x C x 2 x 2
        return torch.cat([branch3x3, branch7x7x3, branch_pool], 1)


class InceptionE(nn.Module):
    """Inception-C of the paper (Figure 7): expanded filter banks, 1x3 and 3x1 side by side."""

    def __init__(self, in_channels: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.branch1x1 = BasicConv2d(in_channels, c(320), kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, c(384), kernel_size=1)
        self.branch3x3_2a = BasicConv2d(c(384), c(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(c(384), c(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, c(448), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(c(448), c(384), kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(c(384), c(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(c(384), c(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, c(192), kernel_size=1)
        self.out_channels = c(320) + 4 * c(384) + c(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 2 x 2; every branch keeps 2 x 2
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl),
                                  self.branch3x3dbl_3b(branch3x3dbl)], 1)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, branch_pool], 1)


class InceptionAux(nn.Module):
    """The auxiliary classifier on Mixed_6e's 6 x 6 grid."""

    def __init__(self, in_channels: int, num_classes: int, w: float) -> None:
        super().__init__()
        c = functools.partial(scaled, width=w)
        self.conv0 = BasicConv2d(in_channels, c(128), kernel_size=1)
        self.conv1 = BasicConv2d(c(128), c(768), kernel_size=2, padding=0)
        self.fc = nn.Linear(c(768), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x 6 x 6
        x = F.avg_pool2d(x, kernel_size=3, stride=3)  # N x C x 2 x 2
        x = self.conv0(x)  # N x c(128) x 2 x 2
        x = self.conv1(x)  # N x c(768) x 1 x 1
        return self.fc(x.flatten(1))  # N x 10


class Net(nn.Module):
    def __init__(self, width: float = 1 / 8, aux_logits: bool = True, dropout: float = 0.5,
                 num_classes: int = 10) -> None:
        super().__init__()
        w = width
        c = functools.partial(scaled, width=w)
        self.Conv2d_1a_3x3 = BasicConv2d(1, c(32), kernel_size=3, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(c(32), c(32), kernel_size=3, padding=1)
        self.Conv2d_2b_3x3 = BasicConv2d(c(32), c(64), kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(c(64), c(80), kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(c(80), c(192), kernel_size=3, padding=1)
        self.Mixed_5b = InceptionA(c(192), pool_features=c(32), w=w)
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, pool_features=c(64), w=w)
        self.Mixed_5d = InceptionA(self.Mixed_5c.out_channels, pool_features=c(64), w=w)
        self.Mixed_6a = InceptionB(self.Mixed_5d.out_channels, w=w)
        self.Mixed_6b = InceptionC(self.Mixed_6a.out_channels, channels_7x7=c(128), w=w)
        self.Mixed_6c = InceptionC(self.Mixed_6b.out_channels, channels_7x7=c(160), w=w)
        self.Mixed_6d = InceptionC(self.Mixed_6c.out_channels, channels_7x7=c(160), w=w)
        self.Mixed_6e = InceptionC(self.Mixed_6d.out_channels, channels_7x7=c(192), w=w)
        self.AuxLogits = (InceptionAux(self.Mixed_6e.out_channels, num_classes, w)
                          if aux_logits else None)
        self.Mixed_7a = InceptionD(self.Mixed_6e.out_channels, w=w)
        self.Mixed_7b = InceptionE(self.Mixed_7a.out_channels, w=w)
        self.Mixed_7c = InceptionE(self.Mixed_7b.out_channels, w=w)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.Mixed_7c.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # x: N x 1 x 28 x 28; channel counts for the default width 1/8
        x = self.Conv2d_1a_3x3(x)  # N x 4 x 28 x 28
        x = self.Conv2d_2a_3x3(x)  # N x 4 x 28 x 28
        x = self.Conv2d_2b_3x3(x)  # N x 8 x 28 x 28
        x = self.maxpool1(x)  # N x 8 x 14 x 14
        x = self.Conv2d_3b_1x1(x)  # N x 10 x 14 x 14
        x = self.Conv2d_4a_3x3(x)  # N x 24 x 14 x 14
        x = self.Mixed_5b(x)  # N x 32 x 14 x 14
        x = self.Mixed_5c(x)  # N x 36 x 14 x 14
        x = self.Mixed_5d(x)  # N x 36 x 14 x 14
        x = self.Mixed_6a(x)  # N x 96 x 6 x 6
        x = self.Mixed_6b(x)  # N x 96 x 6 x 6
        x = self.Mixed_6c(x)  # N x 96 x 6 x 6
        x = self.Mixed_6d(x)  # N x 96 x 6 x 6
        x = self.Mixed_6e(x)  # N x 96 x 6 x 6
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7a(x)  # N x 160 x 2 x 2
        x = self.Mixed_7b(x)  # N x 256 x 2 x 2
        x = self.Mixed_7c(x)  # N x 256 x 2 x 2
        x = self.avgpool(x).flatten(1)  # N x 256
        x = self.fc(self.dropout(x))  # N x 10
        x = F.log_softmax(x, dim=1)
        if aux is not None:
            return x, F.log_softmax(aux, dim=1)
        return x


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
