"""The lecture's slides, as the project computes them: the worked examples of pooling and
convolution that the page draws (slides.slide), and the simple CNN's shapes layer by layer."""
from __future__ import annotations

import pytest
import torch

import simple_cnn
from conftest import run
from pipeline import slides
from pipeline.explain import Explainer


def example(title_start: str) -> dict:
    found = [e for e in slides.EXAMPLES if e["title"].startswith(title_start)]
    assert len(found) == 1
    return {k: found[0][k] for k in ("op", "input", "kernel", "stride", "padding")}


def test_max_pooling_2x2_stride_2():
    answer = slides.slide(example("Max pooling 2x2"))
    assert answer["output"] == [[6, 8], [3, 4]]
    assert answer["windows"] == [[0, 0, 2, 2], [0, 2, 2, 4], [2, 0, 4, 2], [2, 2, 4, 4]]
    assert answer["formula"] == "floor((4 + 2*0 - 2) / 2) + 1 = 2; PyTorch gives 2"


def test_max_pooling_3x3_stride_1():
    answer = slides.slide(example("Max pooling 3x3"))
    assert answer["output"] == [[3, 3, 3], [3, 3, 3], [3, 2, 3]]  # row 3, column 2: a 2


def test_average_pooling_3x3_stride_1():
    answer = slides.slide(example("Average pooling 3x3"))
    rounded = [[round(v, 1) for v in row] for row in answer["output"]]
    assert rounded == [[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]]


def test_convolution_with_a_2x2_filter_of_ones():
    answer = slides.slide(example("A 3x3 image under a 2x2 filter"))
    assert answer["output"] == [[12, 16], [24, 28]]


def test_same_padding_puts_the_extra_row_and_column_at_the_bottom_right():
    answer = slides.slide(example("The same with padding"))
    assert answer["output"] == [[12, 16, 9], [24, 28, 15], [15, 17, 9]]
    assert answer["pad"] == [0, 0, 1, 1]  # top, left, bottom, right
    assert answer["formula"] == "padding 'same', stride 1: output = input = 3; PyTorch gives 3"


@pytest.mark.parametrize("padding,message", [(3, "padding must be an integer from 0 to 2"),
                                             ("same", 'padding "same" is for a convolution')])
def test_a_pooling_the_slides_cannot_draw_is_refused(padding, message):
    with pytest.raises(slides.BadRequest, match=message):
        slides.slide({**example("Max pooling 2x2"), "padding": padding})


def test_the_simple_cnns_shapes_are_the_slides(capsys):
    e = Explainer(simple_cnn.Net())(torch.zeros(1, 28, 28))
    shapes = [(s.name, tuple(s.output.shape)) for s in e.stages]
    assert shapes == [("conv1", (10, 24, 24)), ("mp", (10, 12, 12)), ("conv2", (20, 8, 8)),
                      ("mp", (20, 4, 4)), ("fc", (10,))]
    assert e.flattened.numel() == 320  # the famous 320: 20 x 4 x 4
    code, out, _ = run(simple_cnn, capsys, "--summary")  # and --summary says so
    assert code == 0 and "Total params: 8,490" in out
    assert "Flatten size into fc: 320 (so fc = Linear(320, 10))" in out
