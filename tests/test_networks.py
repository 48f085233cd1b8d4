"""Every network: output shape, gradients, the flatten size that feeds fc, parameter counts."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import inception_cnn
import simple_cnn

# network -> (flatten size feeding fc, parameters) as the lecture documents them
NETWORKS = {
    "simple": (simple_cnn.Net, 320, 8_490),
    "inception": (inception_cnn.Net, 1408, 97_298),
}


def fc_input_size(net: torch.nn.Module) -> int:
    """Run one 1x28x28 image and measure what actually reaches fc."""
    seen = []
    hook = net.fc.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].shape[1:]))
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 1, 28, 28))
    hook.remove()
    return seen[0].numel()


@pytest.fixture(params=NETWORKS, ids=str)
def network(request):
    return NETWORKS[request.param]


def test_output_is_log_probabilities(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    out = net_cls()(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))


def test_gradients_reach_every_parameter(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    net = net_cls()
    F.nll_loss(net(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_flatten_size_comes_from_the_layers(network):
    net_cls, documented, _ = network
    net = net_cls()
    assert fc_input_size(net) == net.fc.in_features == documented


def test_parameter_count(network):
    net_cls, _, documented = network
    assert sum(p.numel() for p in net_cls().parameters()) == documented


def test_channels_last_gives_the_same_output(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    net, x = net_cls(), torch.randn(3, 1, 28, 28)
    expected = net(x)
    net = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net(x.contiguous(memory_format=torch.channels_last)), expected)


@pytest.mark.parametrize("in_channels,size", [(10, 12), (20, 4), (3, 7)])
def test_inception_a_keeps_size_and_gives_88_channels(in_channels, size):
    block = inception_cnn.InceptionA(in_channels)
    out = block(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 16 + 24 + 24 + 24, size, size)


def test_state_dict_names_read_like_the_slides():
    simple = set(simple_cnn.Net().state_dict())
    assert simple == {f"{layer}.{p}" for layer in ("conv1", "conv2", "fc") for p in ("weight", "bias")}
    names = set(inception_cnn.Net().state_dict())
    for branch in ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1",
                   "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool"):
        assert f"incept1.{branch}.weight" in names and f"incept2.{branch}.bias" in names
