"""Training-time augmentation (--augment, --rotate, --scale, --shear, --thickness): each
transform on a test pattern, shape and range, seeding, exact resume with it on."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import simple_cnn
from conftest import printed_tests, resumed_exactly, run, train_lines
from pipeline import checkpoints, networks, recipes
from pipeline.augment import PAPER, Augmentation, thicken, warp

INK = 2.8  # about full ink after normalisation


def dot(row: int, col: int) -> torch.Tensor:
    image = torch.full((1, 1, 28, 28), PAPER)
    image[0, 0, row, col] = INK
    return image


def where(image: torch.Tensor) -> tuple[int, int]:
    """(row, column) of the brightest pixel."""
    return divmod(int(image[0, 0].argmax()), 28)


def one(value: float) -> torch.Tensor:
    return torch.tensor([float(value)])


def moved(image, x=0.0, y=0.0, rotate=0.0, scale=1.0, shear=0.0):
    return warp(image, one(x), one(y), one(rotate), one(scale), one(shear))


def test_a_shifted_dot_lands_where_it_should():
    out = moved(dot(10, 20), x=3, y=-2)
    assert where(out) == (8, 23) and float(out.max()) == pytest.approx(INK, abs=1e-4)


def test_rotating_a_quarter_turn_anticlockwise_takes_right_to_up():
    # the centre is (13.5, 13.5): 6.5 right and 3.5 up of it -> 6.5 up and 3.5 left
    assert where(moved(dot(10, 20), rotate=90)) == (7, 10)


def test_scaling_by_two_doubles_the_distance_from_the_centre():
    out = moved(dot(9, 17), scale=2.0)  # 4.5 up and 3.5 right -> 9 up and 7 right
    rows, cols = torch.nonzero(out[0, 0] > 0, as_tuple=True)
    assert rows.float().mean() == pytest.approx(4.5, abs=0.6)
    assert cols.float().mean() == pytest.approx(20.5, abs=0.6)


def test_shear_leans_a_vertical_line():
    line = torch.full((1, 1, 28, 28), PAPER)
    line[0, 0, 4:24, 14] = INK
    out = moved(line, shear=30)
    top, bottom = out[0, 0, 5].argmax(), out[0, 0, 22].argmax()
    assert top != bottom  # no longer upright
    assert abs(int(top) - int(bottom)) == pytest.approx(17 * np.tan(np.radians(30)), abs=1.5)


@pytest.mark.parametrize("amount, width", [(2, 9), (1.5, 7), (1, 7), (0, 5), (-1, 3), (-2, 1)])
def test_a_thickened_line_is_wider_and_a_thinned_one_narrower(amount, width):
    line = torch.full((1, 1, 28, 28), PAPER)
    line[0, 0, :, 12:17] = INK  # 5 pixels wide
    out = thicken(line, one(amount))[0, 0, 14]
    assert int((out > 2.0).sum()) == width  # fully inked pixels
    assert out.min() >= PAPER - 1e-6 and out.max() <= INK + 1e-6


def test_augmentation_keeps_shape_and_range_and_repeats_with_its_seed():
    torch.manual_seed(0)
    images = torch.rand(32, 1, 28, 28) * (INK - PAPER) + PAPER
    every = Augmentation(shift=2, rotate=10, scale=0.1, shear=10, thickness=1)
    torch.manual_seed(5)
    a = every(images)
    torch.manual_seed(5)
    b = every(images)
    torch.manual_seed(6)
    c = every(images)
    assert a.shape == images.shape and a.dtype == images.dtype
    assert a.min() >= PAPER - 1e-5 and a.max() <= INK + 1e-5
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, images)
    shift = Augmentation(shift=1)(images)  # whole pixels: every value is one of the image's
    assert torch.isin(shift, torch.cat([images.flatten(), torch.tensor([PAPER])])).all()


AUGMENTED = ("--augment", "2", "--rotate", "10", "--scale", "0.1", "--shear", "10",
             "--thickness", "1")


@pytest.mark.slow
def test_resume_is_exact_with_every_augmentation_on(mnist_dir, tmp_path, capsys):
    args = ("--data-dir", str(mnist_dir), "--log-interval", "8", *AUGMENTED)
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    code, out_straight, _ = run(simple_cnn, capsys, *args, "--epochs", "2",
                                "--checkpoint", str(straight))
    assert code == 0
    code, out_plain, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir),
                             "--log-interval", "8", "--epochs", "1")
    code, out_first, _ = run(simple_cnn, capsys, *args, "--epochs", "1", "--checkpoint", str(split))
    assert code == 0
    assert train_lines(out_first, 1) != train_lines(out_plain, 1)  # it does change the batches
    code, out_resumed, _ = run(simple_cnn, capsys, *args, "--epochs", "2", "--resume", str(split),
                               "--checkpoint", str(split))
    assert code == 0
    assert train_lines(out_resumed, 2) == train_lines(out_straight, 2) != []
    assert printed_tests(out_first) + printed_tests(out_resumed) == printed_tests(out_straight)
    resumed_exactly(straight, split)


@pytest.mark.parametrize("flag, value, words", [
    ("--thickness", "2.5", "--thickness: 2.5 must be >= 0.0 and <= 2.0"),
    ("--rotate", "-5", "--rotate: -5 must be >= 0.0 and <= 180.0"),
    ("--scale", "1", "--scale: 1 must be >= 0.0 and <= 0.9"),
    ("--shear", "x", "--shear"),
])
def test_a_bad_augmentation_value_is_one_line(flag, value, words, mnist_dir, capsys):
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), flag, value)
    assert code == 2 and words in err and "Traceback" not in err



def test_the_handwriting_recipe_is_fast_twice_as_long_with_people_s_ways(capsys):
    """For every network the same change of its fast recipe, and --help says which."""
    fast = networks.load("simple_cnn").FAST
    handwriting = recipes.values("handwriting", fast)
    assert handwriting == {**recipes.values("fast", fast), "epochs": 2 * fast["epochs"],
                           **recipes.HANDWRITING}
    code, out, _ = run(simple_cnn, capsys, "--help")
    said = " ".join(out.split())
    flags = " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else
                     f"--{k.replace('_', '-')} {v}" for k, v in recipes.HANDWRITING.items())
    assert code == 0 and f"fast for twice the epochs with {flags}" in said, said


@pytest.mark.slow
def test_a_handwriting_run_trains_with_its_settings_and_a_typed_flag_wins(mnist_dir, tmp_path,
                                                                         capsys):
    ck = tmp_path / "ck.pt"
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--recipe",
                         "handwriting", "--rotate", "5", "--checkpoint", str(ck))
    assert code == 0, err
    saved = checkpoints.read(str(ck))["args"]
    assert (saved["recipe"], saved["epochs"], saved["lr"], saved["rotate"], saved["shear"],
            saved["pen_digits"]) == ("handwriting", 4, 0.1, 5.0, 10.0, "all")
    assert len(printed_tests(out)) == 4
