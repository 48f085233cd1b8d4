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
    mnist, chosen = run.train_data, pens.chosen("apa,app")
    first = run.training_set(1, 1)
    extra = len(run.pens.extra)  # the styles drawn again (pipeline/styles.py, pens.EXTRA)
    assert len(first) == len(mnist) + 692 + 1046 + extra and extra > 1000
    assert run.num_batches == -(-len(first) // 64)
    assert torch.equal(first.images[:len(mnist)], mnist.images)
    assert first.labels[len(mnist):len(mnist) + 1738].tolist() == [d.label for d in chosen]
    assert set(first.labels[len(mnist) + 1738:].tolist()) == {0, 1, 4}
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
    drawn = pens.PenPictures.of(pens.chosen("apa"), torch.device("cpu")).per_epoch
    assert f"/{2000 + drawn} " in train_lines(out_resumed, 2)[0]  # the pen digits kept
    assert printed_tests(out_first) + printed_tests(out_resumed) == printed_tests(out_straight)
    resumed_exactly(straight, split)
