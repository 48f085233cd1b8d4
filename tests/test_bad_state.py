"""Resuming exactly or not at all, and checkpoints, weights and pictures that make no sense.

A resumed run either continues exactly where its checkpoint stopped (the settings typed again
applied, and said) or is refused with one line saying why; a damaged checkpoint or weights
that are not numbers are one line naming the field or the tensor, never a traceback.
"""
from __future__ import annotations

import pytest
import torch

import simple_cnn
from conftest import FINISHED, resumed_exactly, run
from pipeline import checkpoints, data, export
from pipeline.errors import UserError

pytestmark = pytest.mark.slow  # python -m pytest --full


def stopped_inside_epoch_1(mnist_dir, tmp_path, capsys, *extra: str):
    """A run stopped by --target-accuracy at its first test pass, half way into epoch 1."""
    path, metrics = tmp_path / "ck.pt", tmp_path / "m.csv"
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "2",
                       "--evals-per-epoch", "2", "--target-accuracy", "1", "--checkpoint",
                       str(path), "--metrics", str(metrics), *extra)
    assert code == 0, err
    assert (checkpoints.read(str(path))["epoch"], checkpoints.read(str(path))["batch"]) == (0, 16)
    return path, metrics


def test_another_batch_size_inside_an_epoch_is_refused(mnist_dir, tmp_path, capsys):
    path, metrics = stopped_inside_epoch_1(mnist_dir, tmp_path, capsys)
    rows = metrics.read_text()
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--resume", str(path),
                         "--batch-size", "32", "--metrics", str(metrics))
    assert code == 1 and "Train Epoch" not in out
    assert err.splitlines()[-1] == (
        f"error: --resume {path}: it stopped 16 batches into epoch 1, with 32 batches of 64 an "
        f"epoch; this run would have 63 batches of 32, so its batches would fall elsewhere. "
        f"Resume with --batch-size 64, as many torchrun processes and the same data")
    assert metrics.read_text() == rows  # no row written twice


def test_another_batch_size_at_an_epochs_end_applies(trained, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    path.write_bytes(open(trained["checkpoint"], "rb").read())
    code, out, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", str(path),
                         "--epochs", "4", "--batch-size", "100", "--checkpoint", str(path))
    assert code == 0 and "note: resuming with --batch-size 64 -> 100" in err
    assert "Train Epoch: 4 [1000/2000 (50%)]" in out  # log line 10: 10 batches of 100


def test_a_schedule_counted_in_batches_refuses_another_batch_size(mnist_dir, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    args = ("--data-dir", str(mnist_dir), "--recipe", "fast", "--checkpoint", str(path))
    assert run(simple_cnn, capsys, *args, "--epochs", "1")[0] == 0
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--resume", str(path),
                       "--epochs", "2", "--batch-size", "64")
    assert code == 1 and "on --schedule onecycle, which counts its steps in batches" in err


def test_resuming_without_epochs_finishes_the_planned_run_exactly(mnist_dir, tmp_path, capsys):
    """A fast-recipe run (2 epochs, onecycle) stopped after epoch 1 and resumed with no
    --epochs ends where the straight run ended: same weights, schedule at its end."""
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    args = ("--data-dir", str(mnist_dir), "--recipe", "fast")
    assert run(simple_cnn, capsys, *args, "--checkpoint", str(straight))[0] == 0
    accuracy = checkpoints.read(str(straight))["metrics"][0]["test_accuracy"]
    assert run(simple_cnn, capsys, *args, "--checkpoint", str(split),
               "--target-accuracy", str(accuracy), "--evals-per-epoch", "1")[0] == 0
    assert checkpoints.read(str(split))["epoch"] == 1
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--resume",
                         str(split), "--checkpoint", str(split))
    assert code == 0, err
    assert FINISHED.search(out).group(1) == "1"
    b = checkpoints.read(str(split))
    assert b["epoch"] == 2 and b["args"]["recipe"] == "fast"
    resumed_exactly(straight, split)


@pytest.mark.parametrize("typed,words", [
    (["--recipe", "fast"], "--recipe fast: {path} was trained with --recipe lecture, which a "
                           "resumed run keeps"),
    (["--optimizer", "adamw"], "--optimizer adamw: {path} was trained with --optimizer sgd, "
                               "whose state a resumed run cannot carry over to adamw"),
    (["--schedule", "onecycle"], "--schedule onecycle: {path} was trained with --schedule "
                                 "constant"),
])
def test_a_setting_a_resumed_run_cannot_take_is_refused(typed, words, trained, capsys):
    path = trained["checkpoint"]
    code, out, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", path,
                         "--epochs", "4", *typed)
    assert code == 1 and err == f"error: {words.format(path=path)}" + err.split(
        words.format(path=path))[1] and "Train Epoch" not in out


def test_settings_typed_again_on_resume_are_applied(trained, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    path.write_bytes(open(trained["checkpoint"], "rb").read())
    code, _, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", str(path),
                       "--epochs", "4", "--optimizer", "nesterov", "--weight-decay", "0.001",
                       "--recipe", "lecture", "--checkpoint", str(path))
    assert code == 0, err
    assert "note: resuming with --optimizer sgd -> nesterov, --weight-decay 0.0 -> 0.001" in err
    group = checkpoints.read(str(path))["optimizer"]["param_groups"][0]
    assert group["nesterov"] is True and group["weight_decay"] == 0.001


def test_a_checkpoint_from_before_grad_clip_resumes_and_takes_it_typed(trained, tmp_path,
                                                                       capsys):
    ck = checkpoints.read(trained["checkpoint"])
    assert ck["args"]["grad_clip"] == 0.0
    del ck["args"]["grad_clip"]  # as a checkpoint written before --grad-clip
    path = tmp_path / "old.pt"
    torch.save(ck, path)
    code, _, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", str(path),
                       "--epochs", "4", "--grad-clip", "0.5", "--checkpoint", str(path))
    assert code == 0, err
    assert "note: resuming with --grad-clip 0.0 -> 0.5" in err
    assert checkpoints.read(str(path))["args"]["grad_clip"] == 0.5


@pytest.mark.parametrize("use", ["--resume", "--load"])
def test_a_checkpoint_of_an_edited_network_is_one_line(use, trained, tmp_path, capsys):
    ck = checkpoints.read(trained["checkpoint"])
    ck["model"]["fc.weight"] = torch.zeros(10, 100)  # as if fc were now Linear(100, 10)
    path = tmp_path / "edited.pt"
    torch.save(ck, path)
    extra = ["--epochs", "4"] if use == "--resume" else ["--evaluate"]
    code, _, err = run(simple_cnn, capsys, "--data-dir", trained["data"], use, str(path), *extra)
    assert code == 1 and err == (f"error: {path}: these weights do not fit simple_cnn.py's Net: "
                                 f"1 of another shape (first: fc.weight)\n")


def damaged(ck: dict, field: str, how: str) -> dict:
    holder, key = (ck["rng"], field.split(".")[1]) if "." in field else (ck, field)
    if how == "missing":
        del holder[key]
    else:
        holder[key] = [1.5]  # a kind no field takes
    return ck


@pytest.mark.parametrize("how", ["missing", "mistyped"])
@pytest.mark.parametrize("field", list(checkpoints.FIELDS))
def test_a_checkpoint_with_a_damaged_field_names_it(field, how, trained, tmp_path, capsys):
    path = tmp_path / "damaged.pt"
    torch.save(damaged(checkpoints.read(trained["checkpoint"]), field, how), path)
    code, _, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume", str(path),
                       "--epochs", "4")
    said = "is missing" if how == "missing" else "is not"
    assert code == 1 and err.startswith(f"error: {path}: a damaged checkpoint: its {field} {said}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("use", [["--evaluate"], ["--predict", "PICTURE"],
                                 ["--export-onnx", "OUT"], ["--serve"]])
def test_weights_that_are_not_numbers_are_refused(use, value, trained, tmp_path, capsys):
    state = torch.load(trained["weights"])
    state["conv2.bias"][3] = value
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    use = [{"PICTURE": trained["pictures"][7], "OUT": str(tmp_path / "n.onnx")}.get(a, a)
           for a in use]
    code, out, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--load", str(path),
                         *use)
    assert code == 1 and err == (f"error: {path}: the weights hold NaN or infinite values "
                                 f"(1 tensors, first: conv2.bias); they cannot read a digit\n")
    assert out == "" and not (tmp_path / "n.onnx").exists()


def test_an_export_whose_outputs_are_nan_is_refused(trained, tmp_path):
    """max() drops a NaN (max(0.0, nan) is 0.0): the export check counts it as no agreement."""
    model = simple_cnn.Net()
    model.load_state_dict(torch.load(trained["weights"]))
    with torch.no_grad():
        model.fc.bias[0] = float("nan")
    test = data.load_mnist(trained["data"], torch.device("cpu"))[1].head(200)
    with pytest.raises(UserError, match="differ from PyTorch's by up to inf"):
        export.export_onnx(model, str(tmp_path / "n.onnx"), test, 100)
    assert not (tmp_path / "n.onnx").exists()


def test_an_svg_picture_is_named_without_a_python_repr(trained, tmp_path, capsys):
    svg = tmp_path / "seven.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
                   '<text x="8" y="22">7</text></svg>')
    code, out, err = run(simple_cnn, capsys, "--load", trained["weights"], "--predict", str(svg))
    assert code == 1 and err == (f"error: {svg}: not a picture that can be read (not a raster "
                                 f"image Pillow knows, such as PNG or JPEG; an SVG must be saved "
                                 f"as PNG first)\n")
