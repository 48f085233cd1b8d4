"""The two tiers of the tests, and small MNIST-shaped data the tests write themselves.

`python -m pytest` runs the quick tier: every network's shapes and gradients, the loader and
the lecture's loop (under a minute on 2 cores). `python -m pytest --full` runs every test,
as CI does: also those marked `slow` (whole runs in subprocesses, signals, the page's server
and its browser tests, torchrun, the tools).

The data is in the MNIST/raw IDX layout.

The digits are Pillow's built-in font, drawn light on dark at random sizes, stroke widths and
offsets over noise: real digit shapes, so a network visibly learns them in one or two short
epochs and can then read a digit picture the tests draw at another size or polarity; an
untrained network scores about 10%.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripts live at the top level, not in a package

from pipeline import networks  # noqa: E402  (needs ROOT on the path)

REAL_DATA = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data"))



def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run every test, the slow tier too (CI does)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: in the full tier only (python -m pytest --full)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        items[:] = [item for item in items if "slow" not in item.keywords]
        config.hook.pytest_deselected(items=slow)  # "N deselected": python -m pytest --full


# Every network: the scripts beside common.py that define `class Net`, a learner's own too.
NETWORKS = networks.names()

# The lines a run prints, as the lecture prints them, and the run's last line.
TEST_LINE = re.compile(r"^Test set: Average loss: (\d+\.\d{4}), Accuracy: (\d+)/(\d+) \((\d+)%\)$",
                       re.M)
TRAIN_LINE = re.compile(r"^Train Epoch: (\d+) \[(\d+)/(\d+) \((\d+)%\)\]\tLoss: (\d+\.\d{6})$", re.M)
FINISHED = re.compile(r"^Finished: (\d+(?:\.\d+)?) epochs? in \d+\.\d s \(\d+\.\d\d s/epoch\), "
                      r"best accuracy (\d+\.\d\d)% at epoch (\d+(?:\.\d+)?), "
                      r"final (\d+\.\d\d)%(, target .*)?$", re.M)


def printed_tests(out: str) -> list[str]:
    return [m.group(0) for m in TEST_LINE.finditer(out)]


def train_lines(out: str, epoch: int) -> list[str]:
    return [m.group(0) for m in TRAIN_LINE.finditer(out) if m.group(1) == str(epoch)]


def first_new_best_inside_epoch_2(rows: list[dict[str, float]]) -> int:
    """The index of the first test pass inside epoch 2 that beats every earlier one."""
    for i, row in enumerate(rows):
        if 1 < row["epoch"] < 2 and row["test_accuracy"] > max(
                r["test_accuracy"] for r in rows[:i]):
            return i
    raise AssertionError(f"no test pass inside epoch 2 beats the earlier ones: {rows}")


def run(module, capsys, *args: str) -> tuple[int, str, str]:
    """A script's main() in this process: (exit status, stdout, stderr)."""
    try:
        module.main(["--device", "cpu", *args])
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: 0 0 8 ndim, the sizes as big-endian int32, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def draw_digit(digit: int, size: tuple[int, int], font_size: int, stroke: int,
               ink: int = 255, paper: int = 0, mode: str = "L"):
    """One digit in Pillow's built-in font, centred on a `size` (width, height) picture."""
    from PIL import Image, ImageDraw, ImageFont

    colour = ink if mode == "L" else (ink, ink, ink)
    image = Image.new(mode, size, paper if mode == "L" else (paper, paper, paper))
    ImageDraw.Draw(image).text((size[0] / 2, size[1] / 2), str(digit), fill=colour,
                               font=ImageFont.load_default(size=font_size), anchor="mm",
                               stroke_width=stroke, stroke_fill=colour)
    return image


@functools.lru_cache(maxsize=None)
def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    glyphs = {(d, fs, st): np.asarray(draw_digit(d, (28, 28), fs, st), dtype=np.int32)
              for d in range(10) for fs in (25, 27, 29) for st in (0, 1)}
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 50, size=(n, 28, 28))
    for i, k in enumerate(labels):
        glyph = glyphs[(int(k), int(rng.choice((25, 27, 29))), int(rng.integers(0, 2)))]
        dy, dx = rng.integers(-2, 3, size=2)
        images[i] = np.maximum(images[i], np.roll(glyph, (dy, dx), axis=(0, 1)))
    return images.astype(np.uint8), labels.astype(np.uint8)


def make_mnist(root: Path, n_train: int = 2000, n_test: int = 500) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A data folder holding small synthetic MNIST/raw files."""
    return make_mnist(tmp_path / "data")


@pytest.fixture
def offline(monkeypatch):
    """Every download goes to a closed port on this machine, so it fails at once."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The simple network after 3 epochs on synthetic digits: its data, checkpoint, saved
    weights, what it printed, and two pictures of digits (1 and 7) drawn dark on light."""
    root = tmp_path_factory.mktemp("trained")
    data = make_mnist(root / "data")
    paths = {"data": str(data), "checkpoint": str(root / "ck.pt"), "model": str(root / "net.pt")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir",
         paths["data"], "--epochs", "3", "--lr", "0.05", "--checkpoint", paths["checkpoint"],
         "--save-model", paths["model"]], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    paths["out"] = result.stdout
    paths["weights"] = paths["model"]
    paths["pictures"] = {}
    for digit in (1, 7):
        path = root / f"d{digit}.png"
        draw_digit(digit, (120, 160), 110, stroke=4, ink=30, paper=235, mode="RGB").save(path)
        paths["pictures"][digit] = str(path)
    return paths


@pytest.fixture
def mounted(tmp_path):
    """mount(options) -> a fresh tmpfs folder, unmounted after the test; root only."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    mounts = []

    def mount(options: str):
        folder = tmp_path / f"disk{len(mounts)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


# ----------------------------------------------------------------------------- the page's API

@pytest.fixture(scope="session")
def server(trained):
    """The --serve API for the trained simple CNN, in this process, at its URL."""
    import simple_cnn
    from pipeline import checkpoints, serve

    model = simple_cnn.Net()
    checkpoints.load_weights(model, trained["weights"], "simple_cnn")
    httpd = serve.make_server(model, "simple_cnn", "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# straight to the local server: no proxy (urllib's default opener keeps whatever proxy the
# environment had when it was first used, and the offline tests set one)
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, body=None, method: str | None = None, raw: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with DIRECT.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def picture_body(path: str) -> dict:
    return {"image": base64.b64encode(open(path, "rb").read()).decode()}


# ----------------------------------------------------------------------------- Hypothesis
# The property tests (tests/test_properties.py) run the same examples on every machine
# (derandomized), keep no example database in the working tree, and bound their count.
try:
    from hypothesis import HealthCheck, settings as hypothesis_settings
except ImportError:  # requirements-dev.txt brings it; the property tests skip without it
    pass
else:
    hypothesis_settings.register_profile(
        "project", derandomize=True, database=None, deadline=None, max_examples=40,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    hypothesis_settings.load_profile("project")
