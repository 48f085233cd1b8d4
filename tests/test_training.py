"""The shared loop and command line, end to end, on small data the tests write."""
from __future__ import annotations

import argparse
import csv
import re
import sys

import pytest
import torch

import common
import inception_cnn
import simple_cnn
from conftest import (FINISHED, NETWORKS, ROOT, TEST_LINE, TRAIN_LINE,
                      first_new_best_inside_epoch_2, run, run_process)
from pipeline import data, recipes
from pipeline.device import pick_device
from pipeline.errors import UserError


def train(module, capsys, *args: str) -> str:
    module.main(["--device", "cpu", *args])
    return capsys.readouterr().out


def test_a_short_run_learns_and_prints_the_lectures_lines(mnist_dir, capsys):
    out = train(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "2",
                "--batch-size", "32", "--lr", "0.05")
    train_lines = TRAIN_LINE.findall(out)
    assert [line[1:3] for line in train_lines[:3]] == [("0", "2000"), ("320", "2000"), ("640", "2000")]
    tests = TEST_LINE.findall(out)
    assert len(tests) == 2 and all(t[2] == "500" for t in tests)
    assert "\n\nTest set: " in out and ")\n\n" in out  # the lecture's blank lines
    first_loss, last_loss = float(train_lines[0][4]), float(train_lines[-1][4])
    assert last_loss < first_loss / 3
    epochs, best, best_epoch, final, _ = FINISHED.search(out).groups()
    assert epochs == "2" and float(final) >= 90.0
    assert float(best) == max(100.0 * int(t[1]) / 500 for t in tests)


def test_train_takes_the_batches_it_is_given_and_pieces_add_up_to_the_whole(mnist_dir, capsys):
    train_set, _ = data.load_mnist(str(mnist_dir), torch.device("cpu"))
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
    nets = []
    for cuts in ([0, 63], [0, 10, 11, 40, 63]):  # one call for the epoch, or four pieces
        torch.manual_seed(0)
        net = simple_cnn.Net()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)
        losses = torch.cat([common.train(net, optimizer, common.Batches(train_set, order, 32, a, b), 1, 20)
                            for a, b in zip(cuts, cuts[1:])])
        assert losses.shape == (63,)  # 2000 images in batches of 32: the last one holds 16
        nets.append(net)
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
    lines = TRAIN_LINE.findall(capsys.readouterr().out)
    assert [line[1] for line in lines] == ["0", "640", "1280", "1920"] * 2  # batches 0, 20, ...
    assert lines[:4] == lines[4:]


def test_same_seed_gives_identical_losses(mnist_dir, capsys):
    args = ("--data-dir", str(mnist_dir), "--epochs", "1", "--log-interval", "5")
    first = TRAIN_LINE.findall(train(simple_cnn, capsys, *args))
    second = TRAIN_LINE.findall(train(simple_cnn, capsys, *args))
    other = TRAIN_LINE.findall(train(simple_cnn, capsys, *args, "--seed", "2"))
    assert first == second and len(first) == 7
    assert first != other


def read_metrics(path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_target_accuracy_stops_at_the_first_test_pass_that_reaches_it(mnist_dir, tmp_path,
                                                                      capsys):
    args = ("--data-dir", str(mnist_dir), "--epochs", "2", "--log-interval", "1000")
    full, stopped = tmp_path / "full.csv", tmp_path / "stopped.csv"
    out = train(simple_cnn, capsys, *args, "--evals-per-epoch", "4", "--metrics", str(full))
    rows = read_metrics(full)
    assert [r["epoch"] for r in rows] == [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert len(TEST_LINE.findall(out)) == 8
    pick = first_new_best_inside_epoch_2(rows)
    target = rows[pick]["test_accuracy"]

    # --target-accuracy tests four times an epoch unless told otherwise, and stops there
    out = train(simple_cnn, capsys, *args, "--target-accuracy", str(target),
                "--metrics", str(stopped))
    kept = read_metrics(stopped)
    assert [(r["epoch"], r["test_accuracy"]) for r in kept] == [
        (r["epoch"], r["test_accuracy"]) for r in rows[:pick + 1]]
    epochs, best, best_epoch, final, note = FINISHED.search(out).groups()
    assert float(epochs) == rows[pick]["epoch"] and float(final) == target
    assert float(best_epoch) == rows[pick]["epoch"] and note == f", target {target:.2f}% reached"
    assert len(TEST_LINE.findall(out)) == pick + 1


def test_target_accuracy_not_reached_runs_every_epoch(mnist_dir, capsys):
    out = train(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "1",
                "--target-accuracy", "100", "--evals-per-epoch", "2", "--log-interval", "1000")
    epochs, *_, note = FINISHED.search(out).groups()
    assert epochs == "1" and note == ", target 100.00% not reached"
    assert len(TEST_LINE.findall(out)) == 2


def test_save_model_writes_a_state_dict_that_loads(mnist_dir, tmp_path, capsys):
    path = tmp_path / "inception.pt"
    out = train(inception_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run",
                "--save-model", str(path))
    net = inception_cnn.Net()
    net.load_state_dict(torch.load(path, weights_only=True))
    test = data.load_mnist(str(mnist_dir), torch.device("cpu"))[1]
    loss, correct = common.evaluate(net, test.head(1000), 1000)
    assert TEST_LINE.search(out).group(1, 2) == (f"{loss:.4f}", str(correct))


@pytest.mark.slow
@pytest.mark.parametrize("script", NETWORKS)
def test_script_dry_run_end_to_end(script, mnist_dir):
    result = run_process([sys.executable, str(ROOT / f"{script}.py"), "--data-dir", str(mnist_dir),
                          "--dry-run", "--device", "cpu"],
                         seconds=300)
    assert result.returncode == 0, result.stderr
    assert len(TRAIN_LINE.findall(result.stdout)) == 1
    assert len(TEST_LINE.findall(result.stdout)) == 1
    assert FINISHED.search(result.stdout).group(1) == "1"


@pytest.mark.slow
@pytest.mark.parametrize("script", NETWORKS)
def test_importing_a_script_does_nothing(script):
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {script}"
    result = run_process([sys.executable, "-c", code], seconds=120, cwd=ROOT.parent)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_grad_clip_scales_a_steps_gradients_down_to_the_norm_and_no_further():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # a step moves by the gradient
    recipes.clip_gradients(optimizer, model, 0.5)
    for size, moved in ((10.0, 0.5), (0.01, 0.01 * 8 ** 0.5)):  # 8 numbers: norm 28.3, 0.028
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        for p in model.parameters():
            p.grad = torch.full_like(p, size)
        optimizer.step()
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        assert (before - after).norm().item() == pytest.approx(moved, rel=1e-5)


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--epochs", "-1"),
                                        ("--lr", "-0.1"), ("--log-interval", "0"),
                                        ("--lr", "nan"), ("--test-batch-size", "x"),
                                        ("--grad-clip", "-1")])
def test_out_of_range_values_are_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        simple_cnn.main([flag, value])
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err


def test_help_states_every_default_as_a_plain_command_line_resolves_it(capsys):
    """Each "(default: X)" in --help is the value a run with no flags gets (the lecture's
    recipe), read by the flag's own type; the few said in words are the run's None or False."""
    from pipeline import flags
    from pipeline.settings import TABLE

    with pytest.raises(SystemExit):
        simple_cnn.main(["--help"])
    entries = re.split(r"\n  (?=--)", capsys.readouterr().out)[1:]  # one per flag
    shown = {entry.split()[0][2:]: re.findall(r"\(default: ([^)]*)\)", " ".join(entry.split()))
             for entry in entries}
    assert all(len(said) == 1 for said in shown.values()), shown
    shown = {flag: said[0] for flag, said in shown.items()}
    resolved, _ = flags.settings_of(simple_cnn.Net, simple_cnn.FAST, "lecture", None, [])
    typed = {name for name, (_, flag) in TABLE.items() if flag.typed}
    assert {name.replace("-", "_") for name in shown} == typed and len(typed) >= 40
    words = {"off": False, "off, fp32": False, "none": None, "not saved": None,
             "start afresh": None, "run all epochs": None,
             "4 with --target-accuracy, else 1": 1, "127.0.0.1, this machine only": "127.0.0.1",
             "lecture for simple_cnn.py and inception_cnn.py, fast for the exercise "
             "networks": "lecture"}
    for name, text in shown.items():
        name = name.replace("-", "_")
        kind = TABLE[name][1].type
        try:
            value = kind(text)
        except (TypeError, ValueError, argparse.ArgumentTypeError):  # no type, or words
            value = words.get(text, text)
        assert value == getattr(resolved, name), (name, text)


def test_docs_usage_lists_every_flag_with_the_table_s_default():
    """docs/usage.md's table of flags: every setting's flag, and each default that is a value
    (a number, a choice) as the settings' table has it."""
    from pipeline.settings import TABLE, shown

    rows = re.findall(r"^\| (`--[^|]+) \| ([^|]+) \|", (ROOT / "docs" / "usage.md").read_text(),
                      re.M)
    documented = {}
    for flags, cell in rows:
        names = re.findall(r"--([a-z-]+)", flags)
        cells = cell.split(",") if len(names) > 1 else [cell]  # `--host H`, `--port P`
        documented.update(zip(names, cells))
    for name, (default, flag) in TABLE.items():
        if not flag.typed:
            continue
        cell = documented[name.replace("_", "-")]
        if flag.shown is None and default is not None and not isinstance(default, bool):
            assert shown(default, flag) in re.findall(r"[\w./:-]+", cell), (name, cell)


@pytest.mark.parametrize("name", ["cuda", "cuda:7", "mps", "tpu", "gpu0"])
def test_a_device_that_is_not_here_is_a_clear_error(name):
    if name.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    if name == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(UserError, match=f"--device {name}"):
        pick_device(name)


def test_auto_takes_cuda_then_mps_then_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


# ----------------------------------------------------------------------------- --amp, --compile

def final_accuracy(out: str) -> float:
    return float(FINISHED.search(out).group(4))


def test_amp_on_the_cpu_trains_under_bf16_autocast_to_a_close_result(mnist_dir, capsys):
    """--amp runs the forward pass in bfloat16 on a CPU too: the first batch's loss (the same
    weights, the same batch) within 1% of fp32's, finite losses, and a run that learns as far
    (bf16 keeps 8 bits of mantissa, so not the same digits)."""
    args = ("--data-dir", str(mnist_dir), "--epochs", "2", "--lr", "0.05", "--log-interval", "8")
    code, plain, _ = run(simple_cnn, capsys, *args)
    assert code == 0
    code, amp, err = run(simple_cnn, capsys, *args, "--amp")
    assert code == 0, err
    fp32 = [float(m.group(5)) for m in TRAIN_LINE.finditer(plain)]
    bf16 = [float(m.group(5)) for m in TRAIN_LINE.finditer(amp)]
    assert len(bf16) == len(fp32) == 8 and all(0 < loss < 10 for loss in bf16)
    assert bf16[0] == pytest.approx(fp32[0], rel=0.01) and bf16[0] != fp32[0]
    assert final_accuracy(amp) > 90.0 and final_accuracy(plain) > 90.0, (plain, amp)


@pytest.mark.slow
def test_compile_gives_the_same_lines_as_without(mnist_dir, capsys):
    """--compile (torch.compile, Inductor's C++ kernels on a CPU) trains the same network:
    the same Train and Test lines, to the digits they print."""
    import shutil

    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile on a CPU needs a C++ compiler (apt-get install g++)")
    args = ("--data-dir", str(mnist_dir), "--epochs", "1", "--log-interval", "8")
    code, plain, _ = run(simple_cnn, capsys, *args)
    code, compiled, err = run(simple_cnn, capsys, *args, "--compile")
    assert code == 0, err
    assert TRAIN_LINE.findall(compiled) == TRAIN_LINE.findall(plain)
    assert TEST_LINE.findall(compiled) == TEST_LINE.findall(plain)


# ----------------------------------------------------------------------------- where an epoch is cut

def test_an_epoch_is_cut_before_each_log_line_and_at_each_test_pass():
    from pipeline.parts import test_points
    from pipeline.progress import pieces

    assert test_points(10, 2) == {5, 10} and test_points(94, 4) == {24, 47, 70, 94}
    assert pieces(0, 10, 4, frozenset({5, 10})) == [(0, 4), (4, 5), (5, 8), (8, 10)]
    assert pieces(5, 10, 4, frozenset({5, 10})) == [(5, 8), (8, 10)]  # resumed after batch 5
    assert pieces(0, 3, 10, frozenset({3})) == [(0, 3)]  # fewer batches than a log interval
    cuts = pieces(0, 938, 10, test_points(938, 4))
    assert cuts[0][0] == 0 and cuts[-1][1] == 938
    assert all(a < b == c for (a, b), (c, _) in zip(cuts, cuts[1:]))  # back to back, no gaps
