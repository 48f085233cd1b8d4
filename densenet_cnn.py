"""Exercise 10-3, "implement DenseNet": DenseNet-BC (Huang et al. 2017) sized for 28x28 MNIST.

    python densenet_cnn.py --data-dir ../shared/data         # the fast recipe (its default)

What a run reaches, measured over seeds: `python densenet_cnn.py --help` says, from
docs/measured.json (written by `python -m tools.seeds densenet_cnn --record`).

Each dense layer is the paper's bottleneck, BN-ReLU-Conv1x1 (to bn_size * k channels) then
BN-ReLU-Conv3x3 (to k channels, the growth rate), and its output is concatenated to
everything before it in the block. Transition layers (BN-ReLU-Conv1x1-AvgPool2x2) compress
the channels by `compression` (the "C" in BC) and halve the grid: 28 -> 14 -> 7. Global
average pooling and one Linear classifier end it. Names follow torchvision's densenet.py
(features.denseblock1.denselayer1.conv1, features.transition1, ...).

Sized for MNIST: a CIFAR-style stem (one 3x3 convolution to 2k channels, no stride, no
pooling) instead of the ImageNet 7x7/stride-2 convolution and max pool, which would throw
away three quarters of a 28x28 digit; three dense blocks of `block_config` layers, fewer than
the paper's CIFAR networks, to keep a CPU epoch at minutes.

`memory_efficient=True` recomputes each bottleneck's concatenation and 1x1 convolution in the
backward pass (torch.utils.checkpoint) instead of storing them: less memory, more time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn


# --recipe fast, tuned for accuracy per second on a 2-core CPU (the lecture's settings: --help).
FAST = {"epochs": 4, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "optimizer": "nesterov",
        "weight_decay": 5e-4, "schedule": "onecycle", "augment": 2}
DEFAULT_RECIPE = "fast"  # when --recipe is not given


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (bn_size * k) then BN-ReLU-Conv3x3 (k): k new feature maps."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int,
                 memory_efficient: bool) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1,
                               bias=False)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        return self.conv1(F.relu(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # features: the block's input and every earlier layer's output, N x C_i x H x W
        if self.memory_efficient and torch.is_grad_enabled():
            x = cp.checkpoint(self.bottleneck, *features, use_reentrant=False)
        else:
            x = self.bottleneck(*features)  # N x (bn_size * k) x H x W
        return self.conv2(F.relu(self.norm2(x)))  # N x k x H x W


class DenseBlock(nn.ModuleDict):
    """num_layers dense layers; the output is every feature map of the block, concatenated."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int,
                 memory_efficient: bool) -> None:
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_channels + i * growth_rate, growth_rate,
                                                    bn_size, memory_efficient)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # N x (C + num_layers * k) x H x W


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1 to compress the channels, then 2x2 average pooling halves the grid."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class Net(nn.Module):
    def __init__(self, growth_rate: int = 8, block_config: tuple[int, ...] = (2, 4, 4),
                 bn_size: int = 4, compression: float = 0.5, memory_efficient: bool = False,
                 num_classes: int = 10) -> None:
        super().__init__()
        k = growth_rate
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(1, 2 * k, kernel_size=3, padding=1,
                                                    bias=False))
        channels = 2 * k
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, k, bn_size, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels = block.out_channels
            if i != len(block_config) - 1:
                compressed = int(channels * compression)
                self.features.add_module(f"transition{i + 1}", Transition(channels, compressed))
                channels = compressed
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28; for the defaults k = 8, blocks (2, 4, 4), compression 0.5:
        # conv0 N x 16 x 28 x 28 -> denseblock1 N x 32 x 28 x 28 -> transition1 N x 16 x 14 x 14
        # -> denseblock2 N x 48 x 14 x 14 -> transition2 N x 24 x 7 x 7
        # -> denseblock3 N x 56 x 7 x 7 -> norm5
        x = F.relu(self.features(x))  # N x 56 x 7 x 7
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # N x 56
        x = self.classifier(x)  # N x 10
        return F.log_softmax(x, dim=1)


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli  # the command line around the network: flags, checkpoints, the page

    cli.main(Net, FAST, DEFAULT_RECIPE, description=__doc__, argv=argv)


if __name__ == "__main__":
    main()
