"""The lecture's worked examples of pooling and convolution, as PyTorch computes them."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


def grid(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]  # 1 x 1 x H x W


def test_max_pooling_2x2_stride_2():
    x = grid([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    assert F.max_pool2d(x, 2, stride=2).tolist() == [[[[6, 8], [3, 4]]]]
    assert torch.nn.MaxPool2d(2)(x).tolist() == [[[[6, 8], [3, 4]]]]  # the lecture's self.mp


FIVE_BY_FIVE = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]


def test_max_pooling_3x3_stride_1():
    out = F.max_pool2d(grid(FIVE_BY_FIVE), 3, stride=1)[0, 0]
    expected = torch.full((3, 3), 3.0)
    expected[2, 1] = 2.0  # row 3, column 2 on the slide
    assert torch.equal(out, expected)


def test_average_pooling_3x3_stride_1():
    out = F.avg_pool2d(grid(FIVE_BY_FIVE), 3, stride=1)[0, 0]
    slide = torch.tensor([[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]])
    assert torch.equal(out.mul(10).round().div(10), slide)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_convolution_with_a_2x2_filter_of_ones():
    image = torch.arange(1, 10, dtype=torch.float32).reshape(1, 1, 3, 3)
    ones = torch.ones(1, 1, 2, 2)
    assert F.conv2d(image, ones).tolist() == [[[[12, 16], [24, 28]]]]
    # "same" padding keeps 3x3: PyTorch pads the extra row and column at the bottom right
    same = F.conv2d(image, ones, padding="same")[0, 0]
    assert same.tolist() == [[12, 16, 9], [24, 28, 15], [15, 17, 9]]
