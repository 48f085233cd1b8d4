"""tools.handwriting: optdigits as pictures, read through --predict, and drawn on the page."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from tools import handwriting as hw
from conftest import draw_digit

pytestmark = pytest.mark.slow  # python -m pytest --full


def bar(shades) -> np.ndarray:
    """A horizontal bar, 22 pixels long, one row per shade (rows 8 down), on 20 x 30."""
    ink = np.zeros((20, 30))
    for row, shade in enumerate(shades, start=8):
        ink[row, 4:26] = shade
    return ink


def test_thinning_leaves_a_line_one_pixel_wide_along_the_middle():
    line = hw.thin(bar([1, 1, 1, 1, 1]))
    rows, columns = np.nonzero(line)
    assert set(rows) == {10}  # the middle of rows 8..12
    assert line[:, 8:22].sum(0).tolist() == [1] * 14  # one pixel in each column along it


def test_thinning_keeps_the_darkest_ridge_of_a_blurred_stroke():
    line = hw.thin(bar([0.6, 0.7, 0.8, 0.9, 1.0]))  # pales upwards: the pen pressed at row 12
    assert set(np.nonzero(line)[0]) == {12}
    assert hw.thin(bar([0.6, 0.7, 0.8, 0.9, 1.0]), levels=0).sum() < line.sum()  # plain Zhang-Suen


def test_a_line_is_one_stroke_from_end_to_end():
    line = np.zeros((20, 30), dtype=bool)
    line[12, 4:26] = True
    assert hw.strokes(line) == [[(x, 12) for x in range(4, 26)]]


def test_a_ring_is_one_closed_stroke_and_a_lone_pixel_a_dot():
    y, x = np.mgrid[:30, :30]
    ring = hw.thin(((np.hypot(y - 15, x - 15) > 7) & (np.hypot(y - 15, x - 15) < 11)).astype(float))
    ring[2, 2] = True
    (path, dot) = hw.strokes(ring)
    assert path[0] == path[-1] and len(path) == ring.sum()  # round once, back where it began
    assert set(path) | {(2, 2)} == {(int(c), int(r)) for r, c in zip(*np.nonzero(ring))}
    assert dot == [(2, 2)]


def test_a_picture_s_pen_path_is_in_the_pad_s_pixels(tmp_path):
    paper = np.full((40, 40), 255, dtype=np.uint8)
    paper[18:21, 8:32] = 0  # a dark bar, 3 pixels thick, on white
    Image.fromarray(paper).save(tmp_path / "0000-1.png")
    (stroke,) = hw.pen_path(tmp_path / "0000-1.png")
    assert {y for _, y in stroke} == {19.5 * 7}  # the bar's middle row, in the pad's 280 x 280
    xs = [x for x, _ in stroke]  # columns 8..31 (56..224 on the pad), less a little at each end
    assert xs == sorted(xs) and xs[0] < 10 * 7 and xs[-1] > 30 * 7
    assert all(7 <= d < 7 + 280 / hw.TRACED for d in np.diff(xs[:-1]))  # a point each 7 pixels
    assert len(hw.pen_path(tmp_path / "0000-1.png", step=0)[0]) > 100  # each pixel thinned at


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="scikit-learn is not installed (pip install scikit-learn); CI installs it")
def test_the_pictures_are_optdigits_named_by_their_digit(tmp_path):
    from sklearn.datasets import load_digits

    assert hw.write_pictures(tmp_path) == 1797
    pictures = hw.labelled(tmp_path)
    assert [label for _, label in pictures] == load_digits().target.tolist()
    first = np.asarray(Image.open(pictures[0][0]))
    assert first.shape == (40, 40) and first[:4].min() == 255 and first.min() < 64  # ink, margin


@pytest.fixture
def folder(tmp_path):
    """A 1 and a 7 as the tests' font draws them, 40 x 40, dark on white, named as optdigits."""
    for i, digit in enumerate((1, 7)):
        draw_digit(digit, (40, 40), 34, stroke=2, ink=0, paper=255, mode="L").save(
            tmp_path / f"{i:04d}-{digit}.png")
    return tmp_path


def test_read_gives_every_picture_to_predict(trained, folder):
    accuracy, mistakes, n = hw.read("simple_cnn", trained["weights"], folder)
    assert n == 2 and accuracy == 100.0 and not mistakes


def test_drawn_draws_every_picture_on_the_page_and_reads_what_it_shows(trained, folder):
    from test_explain import need_browser

    need_browser()
    accuracy, mistakes, n, moves = hw.drawn("simple_cnn", trained["weights"], folder)
    points = sum(len(s) - 1 for p, _ in hw.labelled(folder) for s in hw.pen_path(p))
    assert n == 2 and len(moves) == points > 20 and min(moves) > 0
    assert accuracy == 100.0 and not mistakes, mistakes  # clean digits, drawn along their strokes


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None,
                    reason="SciPy is not installed (pip install scikit-learn brings it); CI installs it")
def test_traced_draws_the_strokes_beside_each_picture_and_counts_what_they_lost(tmp_path):
    from PIL import ImageDraw

    pictures = [Image.new("L", (40, 40), 255) for _ in range(3)]
    ImageDraw.Draw(pictures[0]).ellipse([10, 6, 30, 34], outline=0, width=3)  # a 0, pen-thin
    ImageDraw.Draw(pictures[1]).line([(20, 6), (20, 34)], fill=0, width=3)  # a 1
    ImageDraw.Draw(pictures[2]).rectangle([6, 6, 33, 33], fill=0)  # a blot: a line or two of it
    for i, (picture, digit) in enumerate(zip(pictures, (0, 1, 8))):
        picture.save(tmp_path / f"{i:04d}-{digit}.png")
    lost, n = hw.traced(tmp_path, tmp_path / "traced")
    assert n == 3 and lost == 100 / 3  # the blot; the 0 and the 1 keep their ink
    side = np.asarray(Image.open(tmp_path / "traced" / "0000-0.png"))
    assert side.shape == (280, 560) and side[:, 280:].min() == 0  # the picture, then its strokes
    assert side[140, 280 + 140] == 255 and side[140, 280 + 80] == 0  # round the 0, not across


def test_a_folder_without_pictures_says_how_to_make_them(tmp_path):
    with pytest.raises(SystemExit, match="no pictures .python -m tools.handwriting pictures"):
        hw.labelled(tmp_path)
    assert list(tmp_path.iterdir()) == []
