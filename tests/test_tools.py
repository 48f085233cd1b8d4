"""The tools PyTorch users expect around a run: TensorBoard, ONNX, safetensors, determinism,
numbers over seeds."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import struct
import sys

import pytest
import torch

import simple_cnn
from conftest import NETWORKS, ONNX_LINE, ROOT, TEST_LINE, TRAIN_LINE, run, run_process

pytestmark = pytest.mark.slow  # python -m pytest --full



# ----------------------------------------------------------------------------- TensorBoard

def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0,
                                                          "histograms": 0})
    events.Reload()
    return events


def test_tensorboard_holds_the_metrics_and_a_resumed_run_continues_the_curves(mnist_dir,
                                                                           tmp_path, capsys):
    from pipeline.board import SCALARS

    board, metrics, ck = tmp_path / "tb", tmp_path / "m.csv", tmp_path / "ck.pt"
    args = ("--data-dir", str(mnist_dir), "--evals-per-epoch", "2", "--tensorboard", str(board),
            "--metrics", str(metrics), "--checkpoint", str(ck))
    code, _, err = run(simple_cnn, capsys, *args, "--epochs", "1")
    assert code == 0, err
    code, _, err = run(simple_cnn, capsys, *args, "--epochs", "2", "--resume", str(ck))
    assert code == 0, err
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["epoch"]) for r in rows] == [0.5, 1, 1.5, 2]
    events = read_events(board)
    for column, tag in SCALARS.items():
        logged = events.Scalars(tag)
        # 32 batches an epoch: the steps are the run's position, continued after the resume
        assert [e.step for e in logged] == [16, 32, 48, 64], tag
        assert [e.value for e in logged] == pytest.approx(
            [float(r[column]) for r in rows], rel=1e-6), tag
    tags = events.Tags()
    assert {"confusion_matrix", "mistakes", "first_layer_filters"} <= set(tags["images"])
    assert "fc.weight" in tags["histograms"] and "conv1.weight" in tags["histograms"]
    assert tags["graph"]  # written by the first run, which started afresh
    filters = events.Images("first_layer_filters")
    assert [e.step for e in filters] == [32, 64] and filters[-1].width > 100


def test_tensorboard_with_nothing_to_train_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(simple_cnn, capsys, "--load", "net.pt", "--evaluate", "--tensorboard",
                       str(tmp_path / "tb"))
    assert code == 2 and "--tensorboard records a training run" in err


# ----------------------------------------------------------------------------- ONNX

@pytest.mark.parametrize("script", NETWORKS)
def test_every_network_exports_to_onnx_and_onnxruntime_agrees(script, mnist_dir, tmp_path,
                                                              capsys):
    import onnxruntime

    path = tmp_path / f"{script}.onnx"
    code, out, err = run(__import__(script), capsys, "--data-dir", str(mnist_dir), "--dry-run",
                         "--export-onnx", str(path))
    assert code == 0, err
    match = ONNX_LINE.search(out)
    assert match and match.group(1) == str(path), out
    assert match.group(2) == match.group(3)  # the same test accuracy in both
    assert float(match.group(4)) <= 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # the batch size is dynamic
        output = session.run(None, {session.get_inputs()[0].name:
                                    torch.randn(batch, 1, 28, 28).numpy()})
        assert len(output) == 1 and output[0].shape == (batch, 10)  # the main head only


def test_onnx_export_of_loaded_weights_trains_nothing(mnist_dir, tmp_path, capsys):
    weights, path = tmp_path / "net.pt", tmp_path / "net.onnx"
    code, out, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "1",
                       "--save-model", str(weights))
    trained_line = TEST_LINE.findall(out)[-1]
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--load", str(weights),
                         "--export-onnx", str(path))
    assert code == 0 and not TRAIN_LINE.search(out) and path.exists(), err
    accuracy = 100.0 * int(trained_line[1]) / 500
    assert ONNX_LINE.search(out).group(2) == f"{accuracy:.2f}"


def test_an_export_that_disagrees_is_refused_and_nothing_written(mnist_dir, tmp_path, capsys,
                                                                 monkeypatch):
    from pipeline import export

    monkeypatch.setattr(export, "TOLERANCE", 0.0)  # the real difference, a few 1e-7, is over it
    path = tmp_path / "net.onnx"
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run",
                       "--export-onnx", str(path))
    assert code == 1 and not path.exists()
    assert re.fullmatch(rf"error: --export-onnx {re.escape(str(path))}: onnxruntime's "
                        r"log-probabilities differ from PyTorch's by up to [\d.e+-]+ \(more than "
                        r"0\); nothing was written\n", err), err


# ----------------------------------------------------------------------------- safetensors

def test_safetensors_holds_tensors_only_and_loads_back(mnist_dir, tmp_path, capsys):
    path = tmp_path / "net.safetensors"
    code, out, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "1",
                       "--save-model", str(path))
    assert code == 0
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])  # the format: a JSON header, then raw tensor bytes
    header = json.loads(raw[8:8 + length])
    assert header["__metadata__"]["network"] == "simple_cnn"
    assert set(header) - {"__metadata__"} == set(simple_cnn.Net().state_dict())
    assert not raw.startswith(b"PK") and b"\x80\x02" not in raw[:8 + length]  # no zip, no pickle
    code, again, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--load", str(path),
                           "--evaluate")
    assert code == 0 and TEST_LINE.findall(again) == TEST_LINE.findall(out)[-1:], err


def test_bad_safetensors_files_are_named(mnist_dir, tmp_path, capsys):
    import inception_cnn

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    code, _, err = run(simple_cnn, capsys, "--load", str(garbage), "--evaluate", "--data-dir",
                       str(mnist_dir))
    assert code == 1 and err.startswith(f"error: {garbage}: not a safetensors file that can be read")
    other = tmp_path / "simple.safetensors"
    code, _, _ = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run",
                     "--save-model", str(other))
    code, _, err = run(inception_cnn, capsys, "--load", str(other), "--evaluate", "--data-dir",
                       str(mnist_dir))
    assert code == 1 and err == (f"error: {other}: the weights of simple_cnn.py, not of "
                                 f"inception_cnn.py\n")
    code, _, err = run(simple_cnn, capsys, "--checkpoint", str(tmp_path / "ck.safetensors"))
    assert code == 2 and "use .pt" in err


# ----------------------------------------------------------------------------- determinism

def test_deterministic_turns_on_deterministic_kernels_and_repeats_itself(mnist_dir, capsys):
    args = ("--data-dir", str(mnist_dir), "--epochs", "1", "--deterministic")
    try:
        code, first, err = run(simple_cnn, capsys, *args)
        assert code == 0, err
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        code, second, _ = run(simple_cnn, capsys, *args)
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    strip = re.compile(r"in [\d.]+ s \([\d.]+ s/epoch\)")
    assert strip.sub("", first) == strip.sub("", second) and TRAIN_LINE.search(first)


# ----------------------------------------------------------------------------- seeds

def test_seeds_reports_mean_std_min_and_max_and_records_them_where_help_reads_them(mnist_dir,
                                                                                tmp_path):
    own = tmp_path / "measured.json"  # a copy: the project's docs/measured.json stays as it is
    shutil.copy(ROOT / "docs" / "measured.json", own)
    env = {**os.environ, "MEASURED_JSON": str(own)}
    result = run_process(
        [sys.executable, "-m", "tools.seeds", "simple_cnn", "--seeds", "3", "--device", "cpu",
         "--data-dir", str(mnist_dir), "--epochs", "1", "--record"], seconds=300, cwd=ROOT,
        env=env)
    assert result.returncode == 0, result.stderr
    entry = json.loads(own.read_text())["accuracy"]["simple_cnn"]
    assert entry["settings"] == "--epochs 1" and entry["seeds"] == 3 and entry["epochs"] == 1
    shown = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--help"], env=env).stdout
    assert (f"What a run reaches (real MNIST, --epochs 1, seeds 1-3): {entry['mean']:.2f}% ± "
            f"{entry['std']:.2f}") in " ".join(shown.split())
    finals = [float(v) for v in re.findall(r"^seed \d: final ([\d.]+)%", result.stdout, re.M)]
    assert len(finals) == 3 and len(set(finals)) > 1  # different seeds, different runs
    mean = sum(finals) / 3
    std = (sum((f - mean) ** 2 for f in finals) / 2) ** 0.5
    summary = re.search(r"^final accuracy: ([\d.]+)% ± ([\d.]+)% \(min ([\d.]+)%, max ([\d.]+)%, "
                        r"3 seeds\)$", result.stdout, re.M)
    assert summary, result.stdout
    assert float(summary.group(1)) == pytest.approx(mean, abs=0.006)
    assert float(summary.group(2)) == pytest.approx(std, abs=0.006)
    assert (float(summary.group(3)), float(summary.group(4))) == (min(finals), max(finals))
    assert re.search(r"^time: [\d.]+ s ± [\d.]+ s", result.stdout, re.M)


def test_resuming_an_earlier_checkpoint_replaces_what_came_after_it(mnist_dir, tmp_path, capsys):
    """A run stopped after logging past its last checkpoint: the resumed run's values win."""
    board, ck, early = tmp_path / "tb", tmp_path / "ck.pt", tmp_path / "early.pt"
    args = ("--data-dir", str(mnist_dir), "--tensorboard", str(board), "--checkpoint", str(ck))
    assert run(simple_cnn, capsys, *args, "--epochs", "1")[0] == 0
    early.write_bytes(ck.read_bytes())
    assert run(simple_cnn, capsys, *args, "--epochs", "2", "--resume", str(ck))[0] == 0
    code, _, err = run(simple_cnn, capsys, *args, "--epochs", "2", "--resume", str(early),
                       "--lr", "0.02")
    assert code == 0, err
    logged = read_events(board).Scalars("learning_rate")
    assert [e.step for e in logged] == [32, 64]
    assert [e.value for e in logged] == pytest.approx([0.01, 0.02])  # the resumed run's 64
