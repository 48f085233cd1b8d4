"""The loader, through the code users run, on IDX files the tests write; damaged and missing data."""
from __future__ import annotations

import sys

import pytest
import torch

import common
from conftest import ROOT, run_process, write_idx
from pipeline.data import MNIST_FILES, load_mnist
from pipeline.errors import UserError

RAW = ("MNIST", "raw")


def test_loads_splits_onto_the_device_normalised(mnist_dir):
    train, test = common.load_mnist(str(mnist_dir), torch.device("cpu"))
    assert train.images.shape == (2000, 1, 28, 28) and train.images.dtype == torch.float32
    assert test.images.shape == (500, 1, 28, 28) and len(test) == 500
    assert train.labels.dtype == torch.int64 and set(train.labels.tolist()) == set(range(10))
    assert train.images.min().item() == pytest.approx((0 - common.MNIST_MEAN) / common.MNIST_STD)
    assert train.images.max().item() == pytest.approx((1 - common.MNIST_MEAN) / common.MNIST_STD)


def damage(path, how):
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:len(data) // 2],
                      "header": b"\x12\x34" + data[2:],
                      "empty": b""}[how])


@pytest.mark.parametrize("how", ["truncate", "header", "empty"])
@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_a_damaged_file_is_named(mnist_dir, name, how):
    path = mnist_dir.joinpath(*RAW, name)
    damage(path, how)
    with pytest.raises(UserError, match=name):
        load_mnist(str(mnist_dir), torch.device("cpu"))


def test_images_and_labels_must_agree_in_count(mnist_dir):
    write_idx(mnist_dir.joinpath(*RAW, "t10k-labels-idx1-ubyte"), torch.zeros(7).numpy())
    with pytest.raises(UserError, match="500 images but t10k-labels-idx1-ubyte 7 labels"):
        load_mnist(str(mnist_dir), torch.device("cpu"))


def test_labels_must_be_digits(mnist_dir):
    write_idx(mnist_dir.joinpath(*RAW, "t10k-labels-idx1-ubyte"), torch.full((500,), 12).numpy())
    with pytest.raises(UserError, match="labels must be digits 0-9"):
        load_mnist(str(mnist_dir), torch.device("cpu"))


@pytest.mark.parametrize("prefix", ["train", "t10k"])
def test_files_with_no_items_are_named(mnist_dir, prefix):
    import numpy as np

    write_idx(mnist_dir.joinpath(*RAW, f"{prefix}-images-idx3-ubyte"), np.zeros((0, 28, 28)))
    write_idx(mnist_dir.joinpath(*RAW, f"{prefix}-labels-idx1-ubyte"), np.zeros(0))
    with pytest.raises(UserError, match=f"{prefix}-images-idx3-ubyte: holds no items"):
        load_mnist(str(mnist_dir), torch.device("cpu"))


def swap(raw) -> None:
    for kind in ("images-idx3", "labels-idx1"):
        train, test = raw / f"train-{kind}-ubyte", raw / f"t10k-{kind}-ubyte"
        train.rename(raw / "swap")
        test.rename(train)
        (raw / "swap").rename(test)


def test_a_training_set_smaller_than_the_test_set_loads_with_a_note(mnist_dir, capsys):
    """A learner who trims the training files for a quick try is not stopped by a guess."""
    swap(mnist_dir.joinpath(*RAW))
    train, test = load_mnist(str(mnist_dir), torch.device("cpu"))
    assert (len(train), len(test)) == (500, 2000)
    assert capsys.readouterr().err == (
        f"note: {mnist_dir.joinpath(*RAW)}: the training set holds fewer images (500) than the "
        f"test set (2000); MNIST's hold 60000 and 10000\n")


def test_mnist_s_own_files_swapped_are_refused(tmp_path):
    import numpy as np

    raw = tmp_path.joinpath(*RAW)
    raw.mkdir(parents=True)
    for prefix, n in (("train", 60000), ("t10k", 10000)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.zeros(n))
    swap(raw)
    with pytest.raises(UserError, match=r"the train- files hold 10000 images and the t10k- files "
                                        r"60000, MNIST's test and training sets: the files are "
                                        r"swapped"):
        load_mnist(str(tmp_path), torch.device("cpu"))


def test_gzipped_files_are_unpacked_without_the_network(mnist_dir, offline):
    import gzip

    raw = mnist_dir.joinpath(*RAW)
    expected = load_mnist(str(mnist_dir), torch.device("cpu"))[0]
    for name in MNIST_FILES:
        path = raw / name
        path.with_name(name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    train, _ = load_mnist(str(mnist_dir), torch.device("cpu"))
    assert torch.equal(train.images, expected.images)
    assert torch.equal(train.labels, expected.labels)


def test_a_damaged_gz_is_named(mnist_dir):
    path = mnist_dir.joinpath(*RAW, "train-images-idx3-ubyte")
    path.with_name(path.name + ".gz").write_bytes(b"\x1f\x8b not really gzip")
    path.unlink()
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz: cannot be unpacked"):
        load_mnist(str(mnist_dir), torch.device("cpu"))


def test_no_data_and_no_network_names_the_folder_and_files(tmp_path, offline):
    with pytest.raises(UserError) as err:
        load_mnist(str(tmp_path), torch.device("cpu"))
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in MNIST_FILES:
        assert name in message
    assert "--data-dir" in message


def test_a_folder_without_mnist_is_left_as_it_was(tmp_path, offline):
    """A mistyped --data-dir, offline: the line, and no empty MNIST/raw tree made there."""
    typo = tmp_path / "dta" / "mnist"
    with pytest.raises(UserError, match="could not be downloaded"):
        load_mnist(str(typo), torch.device("cpu"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given", [RAW, RAW[:1]])
def test_data_dir_naming_the_files_own_folder_says_which_to_pass(mnist_dir, offline, given):
    inner = mnist_dir.joinpath(*given)
    with pytest.raises(UserError) as err:
        load_mnist(str(inner), torch.device("cpu"))
    assert str(err.value) == (f"--data-dir {inner}: MNIST's files are in {mnist_dir.joinpath(*RAW)}, "
                              f"and --data-dir is the folder that holds MNIST/raw: pass "
                              f"--data-dir {mnist_dir}")
    assert sorted(p.name for p in mnist_dir.joinpath(*RAW).iterdir()) == sorted(MNIST_FILES)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["simple_cnn.py", "inception_cnn.py"])
def test_script_offline_without_data_exits_with_one_message(tmp_path, offline, script):
    result = run_process([sys.executable, str(ROOT / script), "--data-dir", str(tmp_path)],
                         seconds=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: MNIST is not in ")
    assert "train-images-idx3-ubyte" in result.stderr


@pytest.mark.slow
def test_script_names_a_damaged_file_without_traceback(mnist_dir):
    damage(mnist_dir.joinpath(*RAW, "train-labels-idx1-ubyte"), "truncate")
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--data-dir",
                          str(mnist_dir), "--dry-run"], seconds=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "train-labels-idx1-ubyte" in result.stderr and "truncated" in result.stderr
