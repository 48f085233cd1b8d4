"""People's pen digits (data/unipen/, pipeline/pens.py): the shipped file, and damaged ones."""
from __future__ import annotations

import collections
import gzip
import json

import numpy as np
import pytest
import torch

import common
import simple_cnn
from conftest import printed_tests, resumed_exactly, run, train_lines
from pipeline import data, flags, parts, pens, settings
from pipeline.errors import UserError


def test_the_shipped_file_holds_every_pen_digit_of_the_six_institutions():
    digits = pens.load()
    assert len(digits) == 11243
    by_source = collections.Counter(d.source for d in digits)
    assert by_source == {"syn": 4554, "apb": 2033, "ibm": 1571, "ced": 1347, "app": 1046,
                         "apa": 692}
    assert {d.label for d in digits} == set(range(10))
    first = digits[0]
    assert first.strokes and all(len(point) == 2 for stroke in first.strokes for point in stroke)
    assert min(x for s in first.strokes for x, _ in s) == 0  # shifted to the digit's box
    assert min(y for s in first.strokes for _, y in s) == 0


def write(path, lines: list[str]) -> None:
    with gzip.open(path, "wt") as f:
        f.write("".join(line + "\n" for line in lines))


GOOD = json.dumps({"label": 7, "writer": "w1", "source": "syn", "strokes": [[[0, 0], [5, 9]]]})


@pytest.mark.parametrize("bad", [
    "not json",
    json.dumps({"label": 12, "writer": "w", "source": "syn", "strokes": [[[0, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "mnist", "strokes": [[[0, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "syn", "strokes": [[[0.5, 0]]]}),
    json.dumps({"label": 3, "writer": "w", "source": "syn", "strokes": []}),
    json.dumps({"label": 3, "source": "syn", "strokes": [[[0, 0]]]}),
])
def test_a_line_that_is_not_a_pen_digit_is_named(bad, tmp_path):
    path = tmp_path / "digits.jsonl.gz"
    write(path, [GOOD, bad])
    with pytest.raises(UserError, match=rf"^{path}, line 2: not a pen digit \(") as error:
        pens.load(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("damage", ["cut short", "not gzip", "empty"])
def test_a_damaged_or_missing_file_is_one_line(damage, tmp_path):
    path = tmp_path / "digits.jsonl.gz"
    write(path, [GOOD] * 50)
    data = path.read_bytes()
    path.write_bytes({"cut short": data[:len(data) // 2], "not gzip": b"{\"label\": 7}",
                      "empty": gzip.compress(b"")}[damage])
    with pytest.raises(UserError, match=rf"^{path}: ") as error:
        pens.load(path)
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="no such file"):
        pens.load(tmp_path / "missing.jsonl.gz")


# --- the pen digits drawn as pictures, for training (--pen-digits) ---------------------------

PAGE_PEN = 18 / 190  # the page's pen (18 pixels) on a digit scaled to 190 pixels (pens.on_pad)


def as_pixels(images: torch.Tensor) -> torch.Tensor:
    return common.denormalise(images).squeeze(1)  # N x 28 x 28, 0 paper to 1 ink


def nearest(a: torch.Tensor, b: torch.Tensor) -> float:
    """The mean difference of two 28 x 28 pictures, b moved by at most a pixel each way."""
    return min(float((torch.roll(b, (dy, dx), (0, 1)) - a).abs().mean())
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_a_pen_digit_drawn_for_training_is_what_the_page_makes_of_its_strokes():
    """PenPictures.draw gives, for each digit at once, what the page's preparation
    (data.prepare_digit) makes of the same strokes drawn with the page's pen: most of them
    placed the same to within 0.02 a pixel on average; the rest a pixel apart, where the
    centre of mass rounds the other way (within 0.05 after that pixel)."""
    from tools.handwriting import picture

    digits = pens.load()[::281]  # 41, every institution's
    drawn = as_pixels(pens.PenPictures.of(digits, torch.device("cpu")).draw(
        torch.full((len(digits),), PAGE_PEN)))
    page = as_pixels(torch.cat([data.prepare_digit(
        np.asarray(picture(d), dtype=np.float32) / 255, "pad") for d in digits]))
    placed = [float((a - b).abs().mean()) for a, b in zip(drawn, page)]
    assert sum(p < 0.02 for p in placed) >= 0.8 * len(digits), sorted(placed)
    assert max(nearest(a, b) for a, b in zip(page, drawn)) < 0.05


def test_pen_widths_are_seeded_and_a_wider_pen_draws_bolder_ink():
    pictures = pens.PenPictures.of(pens.chosen("apa"), torch.device("cpu"))
    labels = [d.label for d in pens.chosen("apa")]
    assert len(pictures) == 692 and pictures.labels.tolist() == labels
    a = pictures.widths(torch.Generator().manual_seed(5))
    assert torch.equal(a, pictures.widths(torch.Generator().manual_seed(5)))
    assert not torch.equal(a, pictures.widths(torch.Generator().manual_seed(6)))
    assert pens.WIDTHS[0] <= a.min() and a.max() <= pens.WIDTHS[1]
    thin, bold = (as_pixels(pictures.draw(torch.full((692,), w))) for w in pens.WIDTHS)
    assert (bold.sum((1, 2)) > thin.sum((1, 2))).all()
    assert thin.min() >= 0 and bold.max() <= 1 + 1e-6
    for ink in thin[::50] > 0.25:  # the ink's box scaled to fit 20 x 20, as MNIST's
        rows, cols = torch.nonzero(ink, as_tuple=True)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20)


def strokes_of(digit: pens.PenDigit) -> np.ndarray:
    return np.concatenate([np.array(s, dtype=float) for s in digit.strokes])


def test_a_styled_digit_is_the_same_digit_with_a_stroke_written_as_many_people_write_it():
    """A 0 slashed through its middle, a 1 with a flag from its top down to the left and/or a
    base at its foot, a 7 crossed on its stem; the digit's own strokes kept; no other digit."""
    rng = np.random.default_rng(1)
    digits = pens.load()[::7]
    styles = collections.Counter()
    for digit in digits:
        variant = pens.styled(digit, rng)
        if digit.label not in (0, 1, 7):
            assert variant is None
            continue
        assert variant.strokes[:len(digit.strokes)] == digit.strokes
        assert (variant.label, variant.source, variant.writer) == (
            digit.label, digit.source, digit.writer)
        added = np.array(variant.strokes[len(digit.strokes):])  # S x 2 x 2
        own = strokes_of(digit)
        (left, top), (right, bottom) = own.min(0), own.max(0)
        height = max(bottom - top, 1)
        if digit.label == 0:  # through the middle, from top right to bottom left
            (x0, y0), (x1, y1) = added[0]
            assert len(added) == 1 and x0 >= x1 and y0 < y1
            assert np.allclose(added[0].mean(0), [(left + right) / 2, (top + bottom) / 2])
        elif digit.label == 1:
            for (x0, y0), (x1, y1) in added:
                if y0 != y1:  # a flag: from below left up to the 1's top
                    assert x0 < x1 and y0 > y1 and y1 == top
                    styles["flag"] += 1
                else:  # a base: level, across the 1's foot
                    assert y0 == bottom and x0 < own[own[:, 1].argmax(), 0] < x1
                    styles["base"] += 1
        else:  # level, crossing the stem half-way down
            (x0, y), (x1, _) = added[0]
            stem = own[np.abs(own[:, 1] - y) < 0.15 * height, 0]
            assert len(added) == 1 and top + 0.4 * height < y < top + 0.65 * height
            assert ((x0 - 0.3 * height < stem) & (stem < x1 + 0.3 * height)).any()
        styles[digit.label] += 1
    assert min(styles.values()) > 20, styles


def test_an_epoch_draws_half_the_0s_1s_and_7s_styled_and_the_rest_as_written():
    pictures = pens.PenPictures.of(pens.chosen("apa"), torch.device("cpu"))
    chance = torch.Generator().manual_seed(3)
    drawn = as_pixels(pictures.epoch(chance))
    assert torch.equal(drawn, as_pixels(pictures.epoch(torch.Generator().manual_seed(3))))
    plain = as_pixels(pictures.draw(pictures.widths(torch.Generator().manual_seed(3))))
    changed = (drawn - plain).abs().amax((1, 2)) > 0
    can = torch.isin(pictures.labels, torch.tensor([0, 1, 7]))
    assert not changed[~can].any()  # the other digits as written, with the same pen
    share = changed[can].float().mean()
    assert abs(share - pens.STYLED) < 0.1, share


@pytest.mark.parametrize("typed, kept", [("all", "all"), ("none", "none"), ("ced,syn", "syn,ced"),
                                         ("syn,apb,app,apa,ibm,ced", "all"), (" ibm ", "ibm")])
def test_pen_digits_is_written_one_way(typed, kept):
    assert settings.pen_sources(typed) == kept


@pytest.mark.parametrize("typed", ["mnist", "", "syn,nope", "all,syn"])
def test_an_unknown_institution_is_a_usage_error(typed, mnist_dir, capsys):
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--pen-digits", typed)
    assert code == 2 and "--pen-digits" in err and "syn, apb, app, apa, ibm, ced" in err
    assert "Traceback" not in err


def built(mnist_dir, *typed: str) -> parts.Parts:
    """What a run of these flags builds before its first batch."""
    settings, _ = flags.settings_of(simple_cnn.Net, simple_cnn.FAST, "lecture", None,
                                    ["--data-dir", str(mnist_dir), "--device", "cpu", *typed])
    return parts.build(simple_cnn.Net(), torch.device("cpu"), settings, None)


def test_an_epoch_s_training_set_holds_mnist_and_the_pen_digits_drawn_for_that_epoch(mnist_dir):
    """The pen digits follow MNIST's images, drawn with widths the seed and the epoch decide:
    the same again for the same epoch (so a resumed run draws them again), others the next."""
    run = built(mnist_dir, "--pen-digits", "apa,app")
    mnist = run.train_data
    first = run.training_set(1, 1)
    assert len(first) == len(mnist) + 692 + 1046 and run.num_batches == -(-3738 // 64)
    assert torch.equal(first.images[:len(mnist)], mnist.images)
    assert first.labels[len(mnist):].tolist() == [d.label for d in pens.chosen("apa,app")]
    assert torch.equal(run.training_set(1, 1).images, first.images)
    assert not torch.equal(run.training_set(1, 2).images[len(mnist):], first.images[len(mnist):])
    order = torch.randperm(len(first), generator=run.generator)
    batch = order[:64]
    assert (batch < len(mnist)).any() and (batch >= len(mnist)).any()  # a batch of both kinds
    assert built(mnist_dir).pens is None  # the lecture's recipe: MNIST alone


@pytest.mark.slow
def test_resume_is_exact_with_the_pen_digits_on(mnist_dir, tmp_path, capsys):
    args = ("--data-dir", str(mnist_dir), "--log-interval", "8", "--pen-digits", "apa",
            "--thickness", "1", "--rotate", "10")
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    code, out_straight, _ = run(simple_cnn, capsys, *args, "--epochs", "2",
                                "--checkpoint", str(straight))
    assert code == 0 and "Training on 2,000 MNIST images and 692 pen digits (apa)" in out_straight
    code, out_first, _ = run(simple_cnn, capsys, *args, "--epochs", "1", "--checkpoint", str(split))
    code, out_resumed, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--log-interval",
                               "8", "--epochs", "2", "--resume", str(split), "--checkpoint",
                               str(split))
    assert code == 0
    assert train_lines(out_resumed, 2) == train_lines(out_straight, 2) != []
    assert train_lines(out_straight, 1)[1].endswith(train_lines(out_first, 1)[1][-20:])
    assert "/2692 " in train_lines(out_resumed, 2)[0]  # the pen digits kept from the checkpoint
    assert printed_tests(out_first) + printed_tests(out_resumed) == printed_tests(out_straight)
    resumed_exactly(straight, split)
