"""Inception v3, v4 and Inception-ResNet-v2 as their papers and released weights have them:
every block on its own, and at width 1.0 every tensor of the paper's network."""
from __future__ import annotations

import pytest
import torch

import inception_resnet_v2_cnn
import inception_v3_cnn
import inception_v4_cnn

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


# ------------------------------------------------------------------ Inception-v4, -ResNet-v2

V4, IRV2 = inception_v4_cnn, inception_resnet_v2_cnn


@pytest.mark.parametrize("block,in_channels,size,out_size", [
    (lambda c: V4.Mixed_3a(c, w=W), 8, 28, 14),
    (lambda c: V4.Mixed_4a(c, w=W), 20, 14, 14),
    (lambda c: V4.Mixed_5a(c, w=W), 24, 14, 7),
    (lambda c: V4.Inception_A(c, w=W), 48, 7, 7),
    (lambda c: V4.Reduction_A(c, w=W), 48, 7, 4),
    (lambda c: V4.Inception_B(c, w=W), 128, 4, 4),
    (lambda c: V4.Reduction_B(c, w=W), 128, 4, 2),
    (lambda c: V4.Inception_C(c, w=W), 192, 2, 2),
    (lambda c: IRV2.Mixed_5b(c, w=W), 24, 7, 7),
    (lambda c: IRV2.Block35(c, w=W), 40, 7, 7),
    (lambda c: IRV2.Mixed_6a(c, w=W), 40, 7, 4),
    (lambda c: IRV2.Block17(c, w=W), 136, 4, 4),
    (lambda c: IRV2.Mixed_7a(c, w=W), 136, 4, 2),
    (lambda c: IRV2.Block8(c, w=W), 260, 2, 2),
], ids=["v4 Mixed_3a", "v4 Mixed_4a", "v4 Mixed_5a", "v4 Inception_A", "v4 Reduction_A",
        "v4 Inception_B", "v4 Reduction_B", "v4 Inception_C", "resnet-v2 Mixed_5b",
        "resnet-v2 Block35", "resnet-v2 Mixed_6a (reduction-A)", "resnet-v2 Block17",
        "resnet-v2 Mixed_7a (reduction-B)", "resnet-v2 Block8"])
def test_inception_v4_and_resnet_v2_blocks(block, in_channels, size, out_size):
    module = block(in_channels)
    out = module(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, module.out_channels, out_size, out_size)


@pytest.mark.parametrize("block", [IRV2.Block35, IRV2.Block17, IRV2.Block8])
def test_inception_resnet_blocks_add_their_scaled_branches_to_the_input(block):
    torch.manual_seed(0)
    module = block(24, w=W).eval()
    x = torch.randn(2, 24, 4, 4)
    with torch.no_grad():
        joined = torch.cat([branch(x) for name, branch in module.named_children()
                            if name.startswith("branch")], 1)
        expected = torch.relu(module.conv2d(joined) * module.scale + x)
        torch.testing.assert_close(module(x), expected)
        module.conv2d.weight.zero_()
        module.conv2d.bias.zero_()
        torch.testing.assert_close(module(x), torch.relu(x))  # only the shortcut is left
    assert IRV2.Block8(24, w=W, no_relu=True).eval()(x).min() < 0  # the last one: no ReLU


def test_inception_resnet_v2_scales_as_released():
    net = IRV2.Net()
    assert {b.scale for b in net.repeat} == {0.17} and len(net.repeat) == 10
    assert {b.scale for b in net.repeat_1} == {0.10} and len(net.repeat_1) == 20
    assert {b.scale for b in net.repeat_2} == {0.20} and len(net.repeat_2) == 9
    assert net.block8.scale == 1.0 and isinstance(net.block8.relu, torch.nn.Identity)


# At width 1.0 both networks are the paper's, parameter for parameter: every convolution
# written out here as (out, in, kh, kw) from the paper's figures, as the port of the released
# weights (Cadene's pretrained-models inceptionv4.py / inceptionresnetv2.py) names it. Names
# ending in "conv2d" are plain convolutions with a bias (the residual blocks' 1x1 joins); the
# others are BasicConv2d (a convolution without bias, then batch norm).
INCEPTION_A = {"branch0": (96, 384, 1, 1), "branch1.0": (64, 384, 1, 1),
               "branch1.1": (96, 64, 3, 3), "branch2.0": (64, 384, 1, 1),
               "branch2.1": (96, 64, 3, 3), "branch2.2": (96, 96, 3, 3),
               "branch3.1": (96, 384, 1, 1)}
INCEPTION_B = {"branch0": (384, 1024, 1, 1), "branch1.0": (192, 1024, 1, 1),
               "branch1.1": (224, 192, 1, 7), "branch1.2": (256, 224, 7, 1),
               "branch2.0": (192, 1024, 1, 1), "branch2.1": (192, 192, 7, 1),
               "branch2.2": (224, 192, 1, 7), "branch2.3": (224, 224, 7, 1),
               "branch2.4": (256, 224, 1, 7), "branch3.1": (128, 1024, 1, 1)}
INCEPTION_C = {"branch0": (256, 1536, 1, 1), "branch1_0": (384, 1536, 1, 1),
               "branch1_1a": (256, 384, 1, 3), "branch1_1b": (256, 384, 3, 1),
               "branch2_0": (384, 1536, 1, 1), "branch2_1": (448, 384, 3, 1),
               "branch2_2": (512, 448, 1, 3), "branch2_3a": (256, 512, 1, 3),
               "branch2_3b": (256, 512, 3, 1), "branch3.1": (256, 1536, 1, 1)}
INCEPTION_V4 = {  # features.N -> its convolutions
    0: {"": (32, 1, 3, 3)}, 1: {"": (32, 32, 3, 3)}, 2: {"": (64, 32, 3, 3)},
    3: {"conv": (96, 64, 3, 3)},  # Mixed_3a
    4: {"branch0.0": (64, 160, 1, 1), "branch0.1": (96, 64, 3, 3),  # Mixed_4a
        "branch1.0": (64, 160, 1, 1), "branch1.1": (64, 64, 1, 7),
        "branch1.2": (64, 64, 7, 1), "branch1.3": (96, 64, 3, 3)},
    5: {"conv": (192, 192, 3, 3)},  # Mixed_5a
    **{i: INCEPTION_A for i in range(6, 10)},
    10: {"branch0": (384, 384, 3, 3), "branch1.0": (192, 384, 1, 1),  # Reduction_A: n, k
         "branch1.1": (224, 192, 3, 3), "branch1.2": (256, 224, 3, 3)},  # l, m
    **{i: INCEPTION_B for i in range(11, 18)},
    18: {"branch0.0": (192, 1024, 1, 1), "branch0.1": (192, 192, 3, 3),  # Reduction_B
         "branch1.0": (256, 1024, 1, 1), "branch1.1": (256, 256, 1, 7),
         "branch1.2": (320, 256, 7, 1), "branch1.3": (320, 320, 3, 3)},
    **{i: INCEPTION_C for i in range(19, 22)},
}
BLOCK35 = {"branch0": (32, 320, 1, 1), "branch1.0": (32, 320, 1, 1), "branch1.1": (32, 32, 3, 3),
           "branch2.0": (32, 320, 1, 1), "branch2.1": (48, 32, 3, 3), "branch2.2": (64, 48, 3, 3),
           "conv2d": (320, 128, 1, 1)}
BLOCK17 = {"branch0": (192, 1088, 1, 1), "branch1.0": (128, 1088, 1, 1),
           "branch1.1": (160, 128, 1, 7), "branch1.2": (192, 160, 7, 1),
           "conv2d": (1088, 384, 1, 1)}
BLOCK8 = {"branch0": (192, 2080, 1, 1), "branch1.0": (192, 2080, 1, 1),
          "branch1.1": (224, 192, 1, 3), "branch1.2": (256, 224, 3, 1),
          "conv2d": (2080, 448, 1, 1)}
INCEPTION_RESNET_V2 = {
    "conv2d_1a": {"": (32, 1, 3, 3)}, "conv2d_2a": {"": (32, 32, 3, 3)},
    "conv2d_2b": {"": (64, 32, 3, 3)}, "conv2d_3b": {"": (80, 64, 1, 1)},
    "conv2d_4a": {"": (192, 80, 3, 3)},
    "mixed_5b": {"branch0": (96, 192, 1, 1), "branch1.0": (48, 192, 1, 1),
                 "branch1.1": (64, 48, 5, 5), "branch2.0": (64, 192, 1, 1),
                 "branch2.1": (96, 64, 3, 3), "branch2.2": (96, 96, 3, 3),
                 "branch3.1": (64, 192, 1, 1)},
    **{f"repeat.{i}": BLOCK35 for i in range(10)},
    "mixed_6a": {"branch0": (384, 320, 3, 3), "branch1.0": (256, 320, 1, 1),
                 "branch1.1": (256, 256, 3, 3), "branch1.2": (384, 256, 3, 3)},
    **{f"repeat_1.{i}": BLOCK17 for i in range(20)},
    "mixed_7a": {"branch0.0": (256, 1088, 1, 1), "branch0.1": (384, 256, 3, 3),
                 "branch1.0": (256, 1088, 1, 1), "branch1.1": (288, 256, 3, 3),
                 "branch2.0": (256, 1088, 1, 1), "branch2.1": (288, 256, 3, 3),
                 "branch2.2": (320, 288, 3, 3)},
    **{f"repeat_2.{i}": BLOCK8 for i in range(9)},
    "block8": BLOCK8,
    "conv2d_7b": {"": (1536, 2080, 1, 1)},
}
# The port's parameter counts (1000 classes, RGB input), less what one grey channel and ten
# classes take away: 32 x 2 x 3 x 3 in the first convolution, 990 x (1536 + 1) in last_linear.
PORT_PARAMS = {"inception_v4_cnn": 42_679_816, "inception_resnet_v2_cnn": 55_843_464}


def expected_state(blocks: dict, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape a state_dict holds for these convolutions, classifier too."""
    state = {"last_linear.weight": (10, 1536), "last_linear.bias": (10,)}
    for block, convs in blocks.items():
        for name, shape in convs.items():
            where = ".".join(str(part) for part in (prefix + str(block), name) if part != "")
            if name.endswith("conv2d"):
                state.update({f"{where}.weight": shape, f"{where}.bias": shape[:1]})
                continue
            state[f"{where}.conv.weight"] = shape
            for tensor in ("weight", "bias", "running_mean", "running_var"):
                state[f"{where}.bn.{tensor}"] = shape[:1]
            state[f"{where}.bn.num_batches_tracked"] = ()
    return state


@pytest.mark.parametrize("script,blocks,prefix", [
    ("inception_v4_cnn", INCEPTION_V4, "features."),
    ("inception_resnet_v2_cnn", INCEPTION_RESNET_V2, ""),
])
def test_at_width_one_every_tensor_is_the_papers(script, blocks, prefix):
    net = __import__(script).Net(width=1.0).eval()
    state = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    assert state == expected_state(blocks, prefix)
    assert sum(p.numel() for p in net.parameters()) == (
        PORT_PARAMS[script] - 32 * 2 * 3 * 3 - 990 * (1536 + 1))
    assert net(torch.zeros(1, 1, 28, 28)).shape == (1, 10)  # and it still fits 28 x 28


@pytest.mark.parametrize("script", ["inception_v4_cnn", "inception_resnet_v2_cnn"])
def test_width_scales_every_channel_count(script):
    net_cls = __import__(script).Net
    params = sum(p.numel() for p in net_cls().parameters())
    half = net_cls(width=1 / 2)
    assert half.last_linear.in_features == 768
    assert sum(p.numel() for p in net_cls(width=1 / 16).parameters()) < params
    assert sum(p.numel() for p in half.parameters()) > 10 * params
