"""One epoch of the simple network on the real MNIST files, where they are on disk."""
from __future__ import annotations

import pytest

import simple_cnn
from conftest import FINISHED, REAL_DATA

pytestmark = pytest.mark.slow  # python -m pytest --full

needs_real_mnist = pytest.mark.skipif(
    not (REAL_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
    reason=f"real MNIST not found in {REAL_DATA}/MNIST/raw (set MNIST_DATA_DIR to its folder)")


@needs_real_mnist
def test_one_epoch_of_the_simple_network_reaches_96_percent(capsys):
    simple_cnn.main(["--data-dir", str(REAL_DATA), "--epochs", "1", "--device", "cpu",
                     "--log-interval", "1000"])
    final = float(FINISHED.search(capsys.readouterr().out).group(4))
    assert final >= 96.0
