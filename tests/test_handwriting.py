"""tools.handwriting: people's pen digits as pictures, read through --predict, and replayed on
the page with the mouse."""
from __future__ import annotations

import base64
import collections
import io

import numpy as np
import pytest
import torch
from PIL import Image

import common
from conftest import need_browser
from pipeline import data, pens
from tools import browser
from tools import handwriting as hw

pytestmark = pytest.mark.slow  # python -m pytest --full

DIGITS = pens.load()[100:10001:2500]  # four people's digits, of three institutions


def pen_digit(strokes, label=1) -> pens.PenDigit:
    return pens.PenDigit(label, "w", "ibm", tuple(tuple(s) for s in strokes))


def test_a_dot_a_lone_bar_and_two_digits_side_by_side_are_broken_segments():
    line = [(0, 0), (40, 2), (80, 4), (120, 5), (160, 6)]
    assert hw.broken(pen_digit([[(0, 0), (1, 1), (2, 0)]], 6))  # 3 points: a dot
    assert hw.broken(pen_digit([line]))  # a 1 lying flat
    assert not hw.broken(pen_digit([[(y, x) for x, y in line]]))  # a 1 standing up
    assert hw.broken(pen_digit([[(y, x) for x, y in line]], 4))  # a 4's lone bar
    assert hw.broken(pen_digit([[(0, 0), (20, -20), (40, 0), (20, 20), (0, 0)],
                                [(60, 0), (80, -20), (100, 0), (80, 20), (60, 0)]], 0))  # "00"
    assert not hw.broken(pen_digit([[(0, 0), (60, 0), (30, 50), (20, 100)],
                                    [(10, 50), (50, 50)]], 7))  # a 7 with a crossbar
    flagged = collections.Counter(d.source for d in pens.load() if hw.broken(d))
    assert flagged["ibm"] == 62 and sum(flagged.values()) == 62 + 11


def test_a_pen_path_is_the_writer_s_strokes_on_the_pad_a_point_every_4_pixels():
    digit = DIGITS[0]
    path, full = hw.pen_path(digit), pens.on_pad(digit)
    assert len(path) == len(digit.strokes)
    for stroke, points in zip(path, full):
        assert stroke[0] == tuple(points[0]) and stroke[-1] == tuple(points[-1])
        gaps = np.hypot(*np.diff(np.array(stroke[:-1]), axis=0).T)
        assert (gaps >= hw.STEP).all()
        assert all(0 <= v <= browser.PAD for point in stroke for v in point)


def test_pictures_are_the_pen_digits_drawn_as_the_page_draws_them(tmp_path):
    assert hw.write_pictures(tmp_path, "apa") == 692
    pictures = hw.labelled(tmp_path)
    apa = [(i, d) for i, d in enumerate(pens.load()) if d.source == "apa"]
    assert [(p.name, label) for p, label in pictures] == [
        (f"{i:05d}-{d.label}.png", d.label) for i, d in apa]
    first = np.asarray(Image.open(pictures[0][0]))
    assert first.shape == (280, 280) and first[:30].min() == 255 and first.min() == 0


def test_read_gives_every_picture_to_predict(trained, tmp_path):
    for i, digit in enumerate(DIGITS):
        hw.picture(digit).save(tmp_path / f"{i:05d}-{digit.label}.png")
    accuracy, mistakes, n, right, second = hw.read("simple_cnn", trained["weights"], tmp_path)
    assert n == len(DIGITS) == len(right) == len(second) and accuracy == 100 * sum(right) / n
    assert sum(mistakes.values()) == n - sum(right)
    assert all(s is None or 0 <= s <= 9 for s in second)  # named second where it was torn


def test_drawn_replays_each_digit_with_the_mouse_and_reads_what_the_page_shows(trained):
    need_browser()
    accuracy, mistakes, n, moves = hw.drawn("simple_cnn", trained["weights"], DIGITS)
    points = sum(len(s) - 1 for d in DIGITS for s in hw.pen_path(d))
    assert n == len(DIGITS) and len(moves) == points > 40 and min(moves) > 0
    assert sum(mistakes.values()) == round(n * (1 - accuracy / 100))


def test_a_pen_digit_replayed_on_the_pad_is_what_training_draws_of_it(trained, chromium):
    """The same strokes drawn with the mouse on the page's pad (then prepared as the page's
    picture is) and drawn for training by PenPictures.draw with the page's pen: the same
    28 x 28 picture within 0.05 a pixel on average, after moving one by a pixel at most
    (where the centre of mass rounds the other way)."""
    from test_pens import PAGE_PEN, nearest

    drawn = common.denormalise(pens.PenPictures.of(DIGITS, torch.device("cpu")).draw(
        torch.full((len(DIGITS),), PAGE_PEN)))
    with hw.serving("simple_cnn", trained["weights"]) as url:
        page = browser.open_page(chromium, url)
        for digit, training in zip(DIGITS, drawn):
            browser.draw(page, hw.pen_path(digit))
            png = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
            pad = io.BytesIO(base64.b64decode(png.split(",", 1)[1]))
            on_page = common.denormalise(data.read_picture(pad, "the pad"))
            assert nearest(training[0], on_page[0]) < 0.05
