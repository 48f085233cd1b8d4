"""Every network: output shape, gradients, the flatten size that feeds the classifier,
parameter counts, and every building block on its own."""
from __future__ import annotations

import pytest
import torch

import common
import deep_cnn
import densenet_cnn
import inception_cnn
import inception_v3_cnn
import simple_cnn
from pipeline.loop import training_loss
from pipeline.report import classifier as classifier_of

# script -> (Net, flatten size feeding the classifier, parameters) as each docstring documents
NETWORKS = {
    "simple_cnn": (simple_cnn.Net, 320, 8_490),
    "inception_cnn": (inception_cnn.Net, 1408, 97_298),
    "deep_cnn": (deep_cnn.Net, 1600, 85_690),
    "inception_v3_cnn": (inception_v3_cnn.Net, 256, 355_632),
    "densenet_cnn": (densenet_cnn.Net, 56, 36_394),
}


@pytest.fixture(params=NETWORKS, ids=str)
def network(request):
    return NETWORKS[request.param]


def test_output_is_log_probabilities(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    net = net_cls().eval()
    out = net(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))


def test_gradients_reach_every_parameter(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    net = net_cls().train()
    training_loss(net(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_flatten_size_comes_from_the_layers(network):
    net_cls, documented, _ = network
    net = net_cls()
    _, classifier = classifier_of(net)
    assert common.flatten_size(net) == classifier.in_features == documented


def test_parameter_count(network):
    net_cls, _, documented = network
    assert sum(p.numel() for p in net_cls().parameters()) == documented


def test_channels_last_gives_the_same_output(network):
    net_cls, _, _ = network
    torch.manual_seed(0)
    net, x = net_cls().eval(), torch.randn(3, 1, 28, 28)
    expected = net(x)
    net = net.to(memory_format=torch.channels_last)
    got = net(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- blocks

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


W = 1 / 8


@pytest.mark.parametrize("block,in_channels,size,out_size", [
    (lambda c: inception_v3_cnn.InceptionA(c, pool_features=4, w=W), 24, 14, 14),
    (lambda c: inception_v3_cnn.InceptionB(c, w=W), 36, 14, 6),
    (lambda c: inception_v3_cnn.InceptionC(c, channels_7x7=16, w=W), 96, 6, 6),
    (lambda c: inception_v3_cnn.InceptionD(c, w=W), 96, 6, 2),
    (lambda c: inception_v3_cnn.InceptionE(c, w=W), 160, 2, 2),
], ids=["A (Mixed_5b)", "reduction-A (Mixed_6a)", "B, 1x7/7x1 (Mixed_6b)",
        "reduction-B (Mixed_7a)", "C, expanded (Mixed_7b)"])
def test_inception_v3_blocks(block, in_channels, size, out_size):
    module = block(in_channels)
    out = module(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, module.out_channels, out_size, out_size)


def test_inception_v3_auxiliary_classifier():
    net = inception_v3_cnn.Net().train()
    main, aux = net(torch.randn(2, 1, 28, 28))
    assert main.shape == aux.shape == (2, 10)
    assert net.AuxLogits(torch.randn(2, 96, 6, 6)).shape == (2, 10)
    assert net.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)  # only the main head
    no_aux = inception_v3_cnn.Net(aux_logits=False).train()
    assert no_aux(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert "Mixed_6e.branch7x7dbl_5.conv.weight" in net.state_dict()  # torchvision's names


def test_inception_v3_at_the_papers_width_still_fits_28x28():
    net = inception_v3_cnn.Net(width=1.0, aux_logits=False).eval()
    assert net.fc.in_features == 2048 and net(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_densenet_blocks():
    layer = densenet_cnn.DenseLayer(16, growth_rate=8, bn_size=4, memory_efficient=False)
    assert layer([torch.randn(2, 10, 28, 28), torch.randn(2, 6, 28, 28)]).shape == (2, 8, 28, 28)
    block = densenet_cnn.DenseBlock(3, 16, growth_rate=8, bn_size=4, memory_efficient=False)
    assert block(torch.randn(2, 16, 14, 14)).shape == (2, 16 + 3 * 8, 14, 14)
    transition = densenet_cnn.Transition(48, 24)
    assert transition(torch.randn(2, 48, 14, 14)).shape == (2, 24, 7, 7)
    assert "features.denseblock2.denselayer4.conv2.weight" in densenet_cnn.Net().state_dict()


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
