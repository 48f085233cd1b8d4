"""Checkpoints, exact resume, evaluate, predict, metrics, plot, summary, and every bad input."""
from __future__ import annotations

import csv
import os
import re

import pytest
import torch

import common
import inception_cnn
import simple_cnn
from conftest import (FINISHED, NETWORKS as ALL_NETWORKS, TEST_LINE, TRAIN_LINE, digest,
                      draw_digit, first_new_best_inside_epoch_2, printed_tests, resumed_exactly,
                      run, train_lines)
from pipeline import checkpoints
from pipeline.data import load_digit
from pipeline.report import classifier as classifier_of

pytestmark = pytest.mark.slow  # python -m pytest --full

NETWORKS = {"simple": simple_cnn, "inception": inception_cnn}


# ----------------------------------------------------------------------------- save, resume

@pytest.mark.parametrize("name", NETWORKS)
def test_resume_is_exact(name, mnist_dir, tmp_path, capsys):
    module = NETWORKS[name]
    common_args = ("--data-dir", str(mnist_dir), "--log-interval", "8")
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    code, out_straight, _ = run(module, capsys, *common_args, "--epochs", "2",
                                "--checkpoint", str(straight))
    assert code == 0
    code, out_first, _ = run(module, capsys, *common_args, "--epochs", "1",
                             "--checkpoint", str(split))
    assert code == 0 and checkpoints.read(str(split))["epoch"] == 1
    code, out_resumed, _ = run(module, capsys, *common_args, "--epochs", "2",
                               "--resume", str(split), "--checkpoint", str(split))
    assert code == 0
    assert train_lines(out_resumed, 1) == []  # no finished epoch is repeated
    assert train_lines(out_resumed, 2) == train_lines(out_straight, 2) != []
    assert printed_tests(out_first) + printed_tests(out_resumed) == printed_tests(out_straight)
    assert checkpoints.read(str(straight))["epoch"] == 2
    resumed_exactly(straight, split)


def test_resume_from_a_test_pass_inside_an_epoch_is_exact(mnist_dir, tmp_path, capsys):
    """--target-accuracy stops a run inside epoch 2; resuming it ends where a straight run did."""
    args = ("--data-dir", str(mnist_dir), "--log-interval", "4", "--evals-per-epoch", "4",
            "--epochs", "2")
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    code, out_straight, _ = run(simple_cnn, capsys, *args, "--checkpoint", str(straight))
    assert code == 0
    rows = checkpoints.read(str(straight))["metrics"]
    pick = first_new_best_inside_epoch_2(rows)
    code, out_first, _ = run(simple_cnn, capsys, *args, "--checkpoint", str(split),
                             "--target-accuracy", str(rows[pick]["test_accuracy"]))
    assert code == 0
    ck = checkpoints.read(str(split))
    assert (ck["epoch"], ck["batch"]) == (1, round((rows[pick]["epoch"] - 1) * 32))  # 32 a epoch
    code, out_resumed, _ = run(simple_cnn, capsys, *args, "--resume", str(split),
                               "--checkpoint", str(split))
    assert code == 0
    assert train_lines(out_first, 2) + train_lines(out_resumed, 2) == train_lines(out_straight, 2)
    assert printed_tests(out_first) + printed_tests(out_resumed) == printed_tests(out_straight)
    epochs = FINISHED.search(out_resumed).group(1)
    assert float(epochs) == 2 - rows[pick]["epoch"]
    a = checkpoints.read(str(straight))
    assert (a["epoch"], a["batch"]) == (2, 0)
    resumed_exactly(straight, split)


def test_checkpoint_carries_the_whole_state(trained):
    ck = checkpoints.read(trained["checkpoint"])
    assert ck["network"] == "simple_cnn" and ck["epoch"] == 3
    assert ck["args"]["lr"] == 0.05 and ck["args"]["epochs"] == 3
    assert set(ck["rng"]) >= {"torch", "batch_order"}
    assert ck["optimizer"]["state"]  # momentum buffers
    assert [r["epoch"] for r in ck["metrics"]] == [1, 2, 3]
    assert ck["versions"]["torch"] == str(torch.__version__)
    assert not [f for f in os.listdir(os.path.dirname(trained["checkpoint"])) if f.endswith(".tmp")]


def test_resume_past_the_last_epoch_trains_nothing(trained, capsys):
    code, out, _ = run(simple_cnn, capsys, "--data-dir", trained["data"], "--epochs", "3",
                       "--resume", trained["checkpoint"])
    assert code == 0 and "finished 3 of 3 epochs; nothing to train" in out
    assert not TRAIN_LINE.search(out)


@pytest.mark.parametrize("source", ["checkpoint", "model"])
def test_evaluate_prints_what_training_printed(trained, source, capsys):
    code, out, _ = run(simple_cnn, capsys, "--data-dir", trained["data"], "--load",
                       trained[source], "--evaluate")
    assert code == 0
    assert printed_tests(out) == printed_tests(trained["out"])[-1:]
    assert not TRAIN_LINE.search(out)


def test_load_then_train_starts_from_those_weights(trained, capsys):
    code, out, _ = run(simple_cnn, capsys, "--data-dir", trained["data"], "--load",
                       trained["model"], "--dry-run")
    first_loss = float(TRAIN_LINE.search(out).group(5))
    assert code == 0 and first_loss < 1.0  # an untrained network starts near ln(10) = 2.3


# ----------------------------------------------------------------------------- predict

@pytest.mark.parametrize("polarity", ["dark ink on light paper", "light ink on dark"])
def test_predict_reads_digits_drawn_at_other_sizes(trained, polarity, tmp_path, capsys):
    dark_on_light = polarity.startswith("dark")
    paths = []
    for digit in range(10):
        size, font = ((120, 160), 110) if dark_on_light else ((45, 50), 40)
        image = draw_digit(digit, size, font, stroke=4 if dark_on_light else 1,
                           ink=30 if dark_on_light else 250, paper=235 if dark_on_light else 10,
                           mode="RGB" if dark_on_light else "L")
        path = tmp_path / f"digit{digit}.{'png' if dark_on_light else 'jpg'}"
        image.save(path)
        paths.append(str(path))
    code, out, err = run(simple_cnn, capsys, "--load", trained["model"], "--data-dir",
                         str(tmp_path / "no-data-needed"), "--predict", *paths)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 10
    predicted = []
    for path, line in zip(paths, lines):
        match = re.fullmatch(re.escape(path) + r": (\d) \((\d+\.\d)%\)", line)
        assert match, line
        assert 10.0 <= float(match.group(2)) <= 100.0
        predicted.append(int(match.group(1)))
    assert sum(p == d for d, p in enumerate(predicted)) >= 8, predicted


def test_prepared_picture_looks_like_mnist(tmp_path):
    path = tmp_path / "seven.png"
    draw_digit(7, (300, 200), 180, stroke=6, ink=0, paper=255, mode="RGB").save(path)
    x = load_digit(str(path))
    assert x.shape == (1, 28, 28)
    pixels = x * common.MNIST_STD + common.MNIST_MEAN  # back to [0, 1]
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    border = torch.cat([pixels[0, 0], pixels[0, -1], pixels[0, :, 0], pixels[0, :, -1]])
    assert border.max() < 0.05  # light ink on a dark frame, MNIST's way round
    rows = (pixels[0] > 0.25).any(dim=1).nonzero()
    assert 17 <= int(rows.max() - rows.min()) + 1 <= 20  # scaled to MNIST's 20-pixel box


# ----------------------------------------------------------------------------- look at the run

def test_metrics_file_has_one_row_per_epoch(mnist_dir, tmp_path, capsys):
    path = tmp_path / "metrics.csv"
    code, out, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "2",
                       "--metrics", str(path))
    assert code == 0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "test_loss", "test_accuracy", "seconds", "lr"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    printed = [(m.group(1), int(m.group(2))) for m in TEST_LINE.finditer(out)]
    for row, (loss, correct) in zip(rows, printed):
        assert f"{float(row['test_loss']):.4f}" == loss
        assert float(row["test_accuracy"]) == pytest.approx(100.0 * correct / 500)
        assert float(row["seconds"]) > 0 and float(row["lr"]) == 0.01
        assert 0 < float(row["train_loss"]) < 3
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])


def test_plot_is_a_real_picture(trained, tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "run.png"
    code, _, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--load",
                       trained["checkpoint"], "--evaluate", "--plot", str(path))
    assert code == 0, err
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 1000 and image.height > 700
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 500  # curves, a heat map, digits and filters, not an empty canvas


def test_plot_after_training(mnist_dir, tmp_path, capsys):
    path = tmp_path / "run.png"
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "2",
                       "--plot", str(path))
    assert code == 0 and path.stat().st_size > 20_000, err


@pytest.mark.parametrize("script", ALL_NETWORKS)
def test_summary_answers_the_flatten_question(script, tmp_path, capsys):
    module = __import__(script)
    net = module.Net()
    layer, fc = classifier_of(net)
    params = sum(p.numel() for p in net.parameters())
    code, out, _ = run(module, capsys, "--summary", "--data-dir", str(tmp_path / "no-data-needed"))
    assert code == 0
    assert f"Total params: {params:,}" in out
    assert re.search(r"^Total mult-adds \(millions\): \d+\.\d\d$", out, re.M), out
    flatten = fc.in_features
    assert f"Flatten size into {layer}: {flatten} (so {layer} = Linear({flatten}, 10))" in out
    assert not (tmp_path / "no-data-needed").exists()


def test_progress_bar_replaces_the_train_lines(mnist_dir, capsys):
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "1",
                         "--progress")
    assert code == 0
    assert not TRAIN_LINE.search(out) and len(printed_tests(out)) == 1 and FINISHED.search(out)
    assert "Epoch 1" in err and "32/32" in err and "loss=" in err


# ----------------------------------------------------------------------------- bad input

def garbage(path):
    path.write_bytes(os.urandom(3000))


def truncated(path, source):
    data = open(source, "rb").read()
    path.write_bytes(data[:len(data) // 2])


def hostile(path, target):
    class Payload:  # unpickling this would call open(target, "w"), creating the file
        def __reduce__(self):
            return (open, (str(target), "w"))
    torch.save({"conv1.weight": Payload()}, path)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "other network", "hostile",
                                  "missing", "empty"])
@pytest.mark.parametrize("use", ["--load", "--resume"])
def test_bad_weights_files_are_named_and_left_alone(kind, use, trained, tmp_path, capsys):
    path = tmp_path / "weights.pt"
    target = tmp_path / "pwned"
    if kind == "garbage":
        garbage(path)
    elif kind == "truncated":
        truncated(path, trained["checkpoint"])
    elif kind == "other network":
        path.write_bytes(open(trained["checkpoint"], "rb").read())
    elif kind == "hostile":
        hostile(path, target)
    elif kind == "empty":
        path.write_bytes(b"")
    before = digest(path) if path.exists() else None
    module = inception_cnn if kind == "other network" else simple_cnn
    extra = ("--evaluate",) if use == "--load" else ()
    code, out, err = run(module, capsys, "--data-dir", trained["data"], use, str(path), *extra)
    assert code == 1
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1, err
    assert not printed_tests(out) and not TRAIN_LINE.search(out)
    assert not target.exists()
    assert (digest(path) if path.exists() else None) == before


@pytest.mark.parametrize("kind", ["not an image", "missing", "blank"])
def test_bad_pictures_are_named(kind, trained, tmp_path, capsys):
    from PIL import Image

    good = tmp_path / "good.png"
    draw_digit(3, (60, 60), 50, 2).save(good)
    bad = tmp_path / "bad.png"
    if kind == "not an image":
        bad.write_text("this is not a PNG")
    elif kind == "blank":
        Image.new("L", (40, 40), 255).save(bad)
    before = digest(bad) if bad.exists() else None
    code, out, err = run(simple_cnn, capsys, "--load", trained["model"], "--predict",
                         str(good), str(bad))
    assert code == 1 and err.startswith(f"error: {bad}: ") and err.count("\n") == 1, err
    assert (digest(bad) if bad.exists() else None) == before


@pytest.mark.parametrize("args,message", [
    (["--evaluate"], "--evaluate and --predict need --load"),
    (["--predict", "x.png"], "--evaluate and --predict need --load"),
    (["--resume", "a.pt", "--load", "b.pt"], "leave out --load"),
    (["--checkpoint", "/no/such/folder/ck.pt"], "does not exist"),
])
def test_impossible_combinations_are_usage_errors(args, message, capsys):
    code, _, err = run(simple_cnn, capsys, *args)
    assert code == 2 and message in err


def test_a_diverging_loss_stops_and_keeps_the_last_checkpoint(mnist_dir, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    code, _, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "1",
                     "--checkpoint", str(path))
    before = digest(path)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "3",
                         "--resume", str(path), "--checkpoint", str(path), "--lr", "1e30",
                         "--momentum", "0.9")
    assert code == 1
    assert re.search(r"^error: the loss became (nan|inf) in epoch 2 at batch \d+ \(of 32\); "
                    r"training stopped\. Try a lower learning rate \(--lr\); "
                    + re.escape(f"{path} holds epoch 1"), err, re.M), err
    assert digest(path) == before
    assert not printed_tests(out)
    assert "note: resuming with --lr 0.01 -> 1e+30, --momentum 0.5 -> 0.9" in err


def test_resume_keeps_the_checkpoints_settings_unless_given_again(trained, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    path.write_bytes(open(trained["checkpoint"], "rb").read())
    code, out, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", str(path),
                         "--epochs", "4", "--checkpoint", str(path))
    assert code == 0 and "note:" not in err
    ck = checkpoints.read(str(path))
    assert ck["epoch"] == 4 and ck["args"]["lr"] == 0.05  # trained with --lr 0.05, not 0.01
    assert ck["optimizer"]["param_groups"][0]["lr"] == 0.05
