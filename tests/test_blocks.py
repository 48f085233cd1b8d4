"""The building blocks of the lecture's Inception net and of the exercises' deeper CNN and
DenseNet, each on its own, and the layer names the slides use."""
from __future__ import annotations

import pytest
import torch

import deep_cnn
import densenet_cnn
import inception_cnn
import simple_cnn
from common import training_loss


@pytest.mark.parametrize("in_channels,size", [(10, 12), (20, 4), (3, 7)])
def test_inception_a_keeps_size_and_gives_88_channels(in_channels, size):
    block = inception_cnn.InceptionA(in_channels)
    out = block(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 16 + 24 + 24 + 24, size, size)


def test_deep_cnn_blocks():
    assert deep_cnn.ConvBlock(1, 16)(torch.randn(2, 1, 28, 28)).shape == (2, 16, 28, 28)
    assert deep_cnn.ConvBlock(64, 64, padding=0)(torch.randn(2, 64, 7, 7)).shape == (2, 64, 5, 5)
    net = deep_cnn.Net(width=8)  # a constructor argument, not a global: a tiny one builds
    assert net.fc.in_features == 32 * 5 * 5 and net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_densenet_blocks():
    layer = densenet_cnn.DenseLayer(16, growth_rate=8, bn_size=4, memory_efficient=False)
    assert layer([torch.randn(2, 10, 28, 28), torch.randn(2, 6, 28, 28)]).shape == (2, 8, 28, 28)
    block = densenet_cnn.DenseBlock(3, 16, growth_rate=8, bn_size=4, memory_efficient=False)
    assert block(torch.randn(2, 16, 14, 14)).shape == (2, 16 + 3 * 8, 14, 14)
    transition = densenet_cnn.Transition(48, 24)
    assert transition(torch.randn(2, 48, 14, 14)).shape == (2, 24, 7, 7)
    assert "features.denseblock2.denselayer4.conv2.weight" in densenet_cnn.Net().state_dict()


@pytest.mark.slow
def test_densenet_memory_efficient_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = densenet_cnn.Net()
    efficient = densenet_cnn.Net(memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    for net in (plain, efficient):
        training_loss(net(x), y).backward()
    for (name, a), b in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_state_dict_names_read_like_the_slides():
    simple = set(simple_cnn.Net().state_dict())
    assert simple == {f"{layer}.{p}" for layer in ("conv1", "conv2", "fc") for p in ("weight", "bias")}
    names = set(inception_cnn.Net().state_dict())
    for branch in ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1",
                   "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool"):
        assert f"incept1.{branch}.weight" in names and f"incept2.{branch}.bias" in names


