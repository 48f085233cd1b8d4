"""Faults and bad input: signals, outputs that cannot be written, late-checked flags, pictures.

Each case ends the same way: one line naming the file or value, exit status 1 (2 for usage
errors, 128 + N for a signal), the input left as it was, no temporary file, and the last
checkpoint whole and resumable.
"""
from __future__ import annotations

import os
import re
import signal
import struct
import sys
import zlib

import numpy as np
import pytest
import torch

import inception_cnn
import simple_cnn
from conftest import (ROOT, TRAIN_LINE, digest, draw_digit, finish, run, run_process, spawn,
                      wait_until)
from pipeline import checkpoints
from pipeline.data import load_digit

pytestmark = pytest.mark.slow  # python -m pytest --full

OUTPUTS = ("--checkpoint", "--save-model", "--metrics", "--plot")


def litter(folder) -> list[str]:
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


def file_name(flag: str, tmp_path) -> str:
    return str(tmp_path / {"--checkpoint": "ck.pt", "--save-model": "net.pt",
                           "--metrics": "m.csv", "--plot": "run.png"}[flag])


# ----------------------------------------------------------------------------- signals

def start_training(mnist_dir, checkpoint, *extra, preexec=None):
    """simple_cnn.py training for ever, once it has written its first checkpoint."""
    proc = spawn([sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir",
                  str(mnist_dir), "--checkpoint", str(checkpoint), "--epochs", "1000", *extra],
                 preexec=preexec)
    wait_until(lambda: checkpoint.exists() or proc.poll() is not None, 120,
               "the first checkpoint")
    assert checkpoint.exists(), finish(proc)[1]
    return proc


@pytest.mark.parametrize("signum,words", [(signal.SIGINT, "interrupted"),
                                          (signal.SIGTERM, "terminated (SIGTERM)"),
                                          (signal.SIGHUP, "hung up (SIGHUP)")])
def test_a_signal_stops_like_ctrl_c_and_the_checkpoint_resumes(signum, words, mnist_dir,
                                                               tmp_path):
    path = tmp_path / "ck.pt"
    proc = start_training(mnist_dir, path)
    proc.send_signal(signum)
    out, err = finish(proc, 60)
    assert proc.returncode == 128 + signum, err
    match = re.fullmatch(re.escape(f"stopped: {words} ") + r"(in|after) epoch (\d+); (.+) holds "
                         r"epoch (\d+): continue with --resume (.+)\n", err)
    assert match and match.group(3) == match.group(5) == str(path), err
    saved = checkpoints.read(str(path))["epoch"]
    assert saved == int(match.group(4)) == int(match.group(2)) - (match.group(1) == "in"), err
    assert litter(tmp_path) == []
    resumed = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir",
         str(mnist_dir), "--resume", str(path), "--epochs", str(saved + 1)],
        seconds=120)
    assert resumed.returncode == 0, resumed.stderr
    assert {m.group(1) for m in TRAIN_LINE.finditer(resumed.stdout)} == {str(saved + 1)}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_save_waits_for_the_file(signum, tmp_path, terminal_dispositions):
    from pipeline import interrupts

    path, finished = tmp_path / "ck.pt", []
    before = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt) as stop:
        with interrupts.handled(), interrupts.deferred_interrupt():
            os.kill(os.getpid(), signum)
            checkpoints.atomic_save({"w": torch.ones(3)}, str(path))
            finished.append(True)
    assert interrupts.as_stop(stop.value).signum == signum and finished
    assert torch.equal(checkpoints.read(str(path))["w"], torch.ones(3)) and litter(tmp_path) == []
    assert signal.getsignal(signum) is before


def test_a_hangup_that_nohup_ignores_stays_ignored(mnist_dir, tmp_path):
    path = tmp_path / "ck.pt"
    proc = start_training(mnist_dir, path,
                          preexec=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    proc.send_signal(signal.SIGHUP)
    saved = path.stat().st_mtime_ns
    # it trains on: another epoch's checkpoint is written after the hangup
    wait_until(lambda: path.stat().st_mtime_ns != saved or proc.poll() is not None, 120,
               "a checkpoint written after the hangup")
    proc.send_signal(signal.SIGTERM)
    _, err = finish(proc, 60)
    assert proc.returncode == 128 + signal.SIGTERM and err.startswith("stopped: terminated"), err


def test_sigterm_to_torchrun_stops_every_rank_at_one_step(mnist_dir, tmp_path):
    path = tmp_path / "ck.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = spawn(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir", str(mnist_dir),
         "--checkpoint", str(path), "--epochs", "1000", "--log-interval", "5"],
        env=env, cwd=tmp_path)
    wait_until(lambda: path.exists() or proc.poll() is not None, 180, "the first checkpoint")
    assert path.exists(), finish(proc)[1]
    proc.send_signal(signal.SIGTERM)  # what a cluster's scheduler sends on preemption
    out, err = finish(proc, 120)
    assert proc.returncode != 0
    # one line, rank 0's; no worker died in the middle of our code (torchrun's own agent
    # prints its SignalException, which is not ours to change)
    lines = [line for line in err.splitlines() if line.startswith("stopped:")]
    assert len(lines) == 1 and "terminated (SIGTERM)" in lines[0], err[-3000:]
    assert "simple_cnn.py\", line" not in err and "pipeline" not in err, err[-3000:]
    saved = checkpoints.read(str(path))  # whole, and what the line says it holds
    assert f"holds epoch {saved['epoch']}: continue with --resume {path}" in lines[0], lines[0]
    assert litter(tmp_path) == []


# ----------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("flag", OUTPUTS)
def test_a_folder_given_as_the_file_is_a_usage_error_before_training(flag, mnist_dir, tmp_path,
                                                                    capsys):
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), flag, str(tmp_path))
    assert code == 2 and f"{flag} {tmp_path}: {tmp_path} is a folder" in err
    assert not TRAIN_LINE.search(out)


@pytest.mark.parametrize("flag", OUTPUTS)
def test_a_read_only_folder_is_a_usage_error_before_training(flag, mounted, mnist_dir, capsys):
    folder = mounted("size=1m,ro")
    path = file_name(flag, folder)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), flag, path)
    assert code == 2, err
    assert f"{flag} {path}: the folder {folder} cannot be written (read-only file system)" in err
    assert not TRAIN_LINE.search(out)


@pytest.mark.parametrize("flag", OUTPUTS)
def test_a_full_disk_keeps_the_previous_file_and_says_so(flag, mounted, mnist_dir, capsys):
    folder = mounted("size=200k")
    path = file_name(flag, folder)
    with open(path, "wb") as f:
        f.write(b"the previous file")
    before = digest(path)
    with open(folder / "filler", "wb", buffering=0) as f:  # fill the disk to the last byte
        with pytest.raises(OSError, match="No space left"):
            while True:
                f.write(b"\0" * 512)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run", flag, path)
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {path}: cannot be written (No space left on device); the previous file is "
        f"unchanged"), err
    assert "Traceback" not in err
    assert digest(path) == before and litter(folder) == []


def test_a_checkpoint_that_cannot_be_written_stops_the_run_keeping_the_last(mounted, mnist_dir,
                                                                          capsys):
    """Inception's checkpoint (~0.8 MB) does not fit a 200 KB disk: the run stops at its first
    test pass and says so; the previous checkpoint at that path stays as it was."""
    folder = mounted("size=200k")
    path = folder / "ck.pt"
    path.write_bytes(b"an older checkpoint")
    code, out, err = run(inception_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run",
                         "--checkpoint", str(path))
    assert code == 1
    assert err == (f"error: {path}: cannot be written (No space left on device); the previous "
                   f"file is unchanged; training stopped in epoch 1; no checkpoint could be "
                   f"written to {path}\n")
    assert path.read_bytes() == b"an older checkpoint" and litter(folder) == []


def test_tensorboard_on_a_full_disk_is_one_line_and_the_checkpoint_stays(mounted, mnist_dir,
                                                                           tmp_path, capsys):
    """The test passes' scalars fit in the last 4 KB, the figures at the end do not: the
    run stops with one line (no traceback from TensorBoard's writer thread), and the
    checkpoint of its last test pass is whole and resumable."""
    folder = mounted("size=64k")
    (folder / "filler").write_bytes(b"\0" * 60000)
    checkpoint = tmp_path / "ck.pt"
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--epochs", "2",
                         "--checkpoint", str(checkpoint), "--tensorboard", str(folder / "tb"))
    assert code == 1, err
    assert err == (f"error: --tensorboard {folder / 'tb'}: cannot be written (No space left on "
                   f"device); {checkpoint} holds epoch 2: continue with --resume "
                   f"{checkpoint}\n")
    assert checkpoints.read(str(checkpoint))["epoch"] == 2


@pytest.mark.parametrize("flag", OUTPUTS)
def test_a_read_only_output_file_is_kept_and_said_before_training(flag, mnist_dir, tmp_path,
                                                                   capsys):
    path = file_name(flag, tmp_path)
    with open(path, "wb") as f:
        f.write(b"kept")
    os.chmod(path, 0o444)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run", flag, path)
    assert code == 2 and f"{flag} {path}: {path} is read-only (chmod a-w)" in err
    assert open(path, "rb").read() == b"kept" and os.stat(path).st_mode & 0o777 == 0o444


def test_a_file_made_read_only_during_the_run_is_not_replaced(mnist_dir, tmp_path, capsys):
    from pipeline import files

    path = tmp_path / "m.csv"
    path.write_text("kept")
    path.chmod(0o444)
    with pytest.raises(files.UserError, match="the file is read-only, so it is not replaced"):
        files.write_bytes(str(path), b"new")
    assert path.read_text() == "kept"


def test_an_output_given_as_a_link_is_written_through_it(mnist_dir, tmp_path, capsys):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old")
    link.symlink_to(target)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run",
                         "--metrics", str(link))
    assert code == 0, err
    assert link.is_symlink() and target.read_text().startswith("epoch,train_loss")


# ----------------------------------------------------------------------------- flags

@pytest.mark.parametrize("args,message", [
    (["--seed", str(2**64)], "--seed: 18446744073709551616 must be >= -9223372036854775808 and "
                             "<= 18446744073709551615"),
    (["--seed", str(-2**63 - 1)], "--seed"),
    (["--target-accuracy", "100.5"], "--target-accuracy: 100.5 must be > 0.0 and <= 100.0"),
    (["--momentum", "1"], "--momentum: 1 must be >= 0.0 and < 1.0"),
    (["--augment", "28"], "--augment: 28 must be >= 0 and <= 27"),
    (["--optimizer", "nesterov", "--momentum", "0"], "--optimizer nesterov needs --momentum"),
    (["--checkpoint", "same.pt", "--save-model", "same.pt"],
     "--save-model and --checkpoint both write same.pt"),
    (["--plot", "run.txt"], "--plot run.txt: matplotlib cannot write .txt files"),
])
def test_values_argparse_accepts_but_a_run_cannot_use_are_usage_errors(args, message, tmp_path,
                                                                       capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(tmp_path / "no-data"), *args)
    assert code == 2 and message in err, err
    assert os.listdir(tmp_path) == []  # nothing loaded, nothing written


def test_a_file_as_the_data_folder_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "MNIST.zip"
    path.write_bytes(b"not a folder")
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(path))
    assert code == 2 and f"--data-dir {path}: not a folder" in err


@pytest.mark.parametrize("seed", [str(2**64 - 1), str(-2**63)])
def test_the_extreme_seeds_torch_accepts_train_and_resume(seed, mnist_dir, tmp_path, capsys):
    path = tmp_path / "ck.pt"
    code, _, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--dry-run", "--seed",
                       seed, "--checkpoint", str(path))
    assert code == 0, err
    assert checkpoints.read(str(path))["args"]["seed"] == int(seed)


def test_more_test_passes_than_batches_is_said_before_training(mnist_dir, capsys):
    code, out, err = run(simple_cnn, capsys, "--data-dir", str(mnist_dir), "--batch-size", "500",
                         "--evals-per-epoch", "5")
    assert code == 1 and err == ("error: --evals-per-epoch 5: an epoch has only 4 batches of 500 "
                                 "here\n")
    assert not TRAIN_LINE.search(out)


def test_the_offline_message_is_a_few_readable_lines(tmp_path, offline):
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--data-dir",
                          str(tmp_path)], seconds=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 4 and all(len(line) < 200 for line in lines), result.stderr
    assert "Tried http" not in result.stderr and "Connection refused" in lines[0]


# ----------------------------------------------------------------------------- pictures

def reference_digit():
    """A 3 drawn light on dark in 8-bit grey, and what load_digit makes of it."""
    return draw_digit(3, (60, 80), 70, stroke=2, ink=230, paper=20)


def save_in_mode(mode: str, path):
    """The reference digit saved in one of Pillow's modes."""
    from PIL import Image

    grey = reference_digit()
    a = np.asarray(grey, dtype=np.float64) / 255.0
    if mode == "1":
        grey.point(lambda v: 255 if v > 128 else 0).convert("1").save(path)
    elif mode == "P":
        grey.convert("RGB").quantize(16).save(path)
    elif mode == "P+transparency":  # dark ink, the paper's colour transparent
        image = Image.fromarray(255 - np.asarray(grey)).convert("RGB").quantize(16)
        image.save(path, transparency=image.getpixel((0, 0)))
    elif mode == "I;16":
        Image.fromarray((a * 65535).astype(np.uint16)).save(path)
    elif mode == "I":
        Image.fromarray((a * 2e9).astype(np.int32)).save(path)
    elif mode == "F":
        Image.fromarray(a.astype(np.float32)).save(path)
    elif mode == "CMYK":
        grey.convert("RGB").convert("CMYK").save(path)
    elif mode == "RGBA":  # black ink on transparent paper: transparent means paper
        rgba = Image.new("RGBA", grey.size, (0, 0, 0, 0))
        rgba.putalpha(Image.fromarray((a * 255).astype(np.uint8)))
        rgba.save(path)
    elif mode == "LA":
        la = Image.merge("LA", (grey, Image.new("L", grey.size, 255)))
        la.save(path)
    elif mode == "GIF animation":  # the digit first, then a blank frame and a 7
        blank = Image.new("L", grey.size, 20)
        seven = draw_digit(7, (60, 80), 70, stroke=2, ink=230, paper=20)
        grey.save(path, save_all=True, append_images=[blank, seven], duration=100)
    else:
        raise ValueError(mode)


MODES = {"1": "png", "P": "png", "P+transparency": "png", "I;16": "png", "I": "tif",
         "F": "tif", "CMYK": "jpg", "RGBA": "png", "LA": "png", "GIF animation": "gif"}


@pytest.mark.parametrize("mode", MODES)
def test_predict_reads_every_picture_mode_by_its_real_range(mode, tmp_path):
    from PIL import Image

    path = tmp_path / f"three.{MODES[mode]}"
    save_in_mode(mode, path)
    with Image.open(path) as image:  # the file really is in that mode
        if mode == "GIF animation":
            assert image.n_frames == 3
        else:
            assert image.mode == mode.split("+")[0]
    reference_path = tmp_path / "reference.png"
    reference_digit().save(reference_path)
    reference = load_digit(str(reference_path))
    x = load_digit(str(path))
    assert x.shape == (1, 28, 28)
    similarity = torch.nn.functional.cosine_similarity(
        (x - x.mean()).flatten(), (reference - reference.mean()).flatten(), dim=0)
    assert similarity > 0.9, float(similarity)


def png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims width x height grey pixels: a decompression bomb's start."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 16)  # a few rows of a huge black picture
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("size,reason", [
    ((10_000, 10_000), "10000 x 10000 pixels, at most 50 million"),  # our own limit
    ((60_000, 60_000), "Image size (3600000000 pixels) exceeds limit"),  # Pillow's guard
])
def test_a_picture_too_large_for_a_digit_is_refused_without_decoding(size, reason, trained_model,
                                                                     tmp_path, capsys):
    path = tmp_path / "huge.png"
    png_header_only(path, *size)
    before = digest(path)
    code, out, err = run(simple_cnn, capsys, "--load", trained_model, "--predict", str(path))
    assert code == 1 and err.startswith(f"error: {path}: too large for a picture of a digit "
                                        f"({reason}") and err.endswith("; not decoded\n"), err
    assert err.count("\n") == 1
    assert digest(path) == before


def test_a_folder_given_as_a_picture_is_named(trained_model, tmp_path, capsys):
    code, _, err = run(simple_cnn, capsys, "--load", trained_model, "--predict", str(tmp_path))
    assert code == 1 and err == f"error: {tmp_path}: a folder, not a picture\n"


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """Untrained weights are enough to check what happens before the network runs."""
    path = tmp_path_factory.mktemp("model") / "net.pt"
    torch.save(simple_cnn.Net().state_dict(), path)
    return str(path)
