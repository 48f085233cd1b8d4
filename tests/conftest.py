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
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripts live at the top level, not in a package

from pipeline import networks  # noqa: E402  (needs ROOT on the path)

REAL_DATA = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data"))

# ----------------------------------------------------------------------------- waiting
# Every wait of the tests has a limit, in seconds scaled by one variable for slow machines
# (as CPython's test.support scales its timeouts): TEST_TIMEOUT_SCALE=3 python -m pytest ...
# Past it the test fails naming what it waited for; pytest-timeout's limit (pytest.ini) is
# the only outer one. No test waits a fixed time or asserts a duration.
SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))
T = TypeVar("T")


def limit(seconds: float) -> float:
    return seconds * SCALE


def wait_until(condition: Callable[[], T], seconds: float, what: str) -> T:
    """`condition`'s first true value, polled; a failure naming `what` after the limit."""
    deadline = time.monotonic() + limit(seconds)
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit(seconds):.0f} s for {what}")
        time.sleep(0.02)
    return value



def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run every test, the slow tier too (CI does)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: in the full tier only (python -m pytest --full)")


def pytest_collection_modifyitems(config, items):
    for item in items:  # pytest-timeout's limit, the only outer one, scaled like every wait
        item.add_marker(pytest.mark.timeout(limit(600)))
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
ONNX_LINE = re.compile(r"^ONNX: (.+): test accuracy ([\d.]+)% in onnxruntime, ([\d.]+)% in "
                       r"PyTorch; largest difference in log-probabilities ([\d.e+-]+)$", re.M)
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


def resumed_exactly(straight, split) -> None:
    """A straight run and one stopped and resumed hold the same: the same weights to the bit
    (checkpoints or --save-model files), and for checkpoints the same position and test
    accuracies."""
    from pipeline import checkpoints

    a, b = checkpoints.read(str(straight)), checkpoints.read(str(split))
    if "model" in a:
        assert (a["epoch"], a.get("batch", 0)) == (b["epoch"], b.get("batch", 0))
        assert [r["test_accuracy"] for r in a["metrics"]] == \
            [r["test_accuracy"] for r in b["metrics"]]
        a, b = a["model"], b["model"]
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


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
    result = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir",
         paths["data"], "--epochs", "3", "--lr", "0.05", "--checkpoint", paths["checkpoint"],
         "--save-model", paths["model"]], seconds=300)
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
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)])
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
    httpd.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.close()


# straight to the local server: no proxy (urllib's default opener keeps whatever proxy the
# environment had when it was first used, and the offline tests set one)
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, body=None, method: str | None = None, raw: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with DIRECT.open(request, timeout=limit(30)) as response:
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


# ----------------------------------------------------------------------------- processes
# A shell starts a job with `&` or nohup with SIGINT (and SIGHUP) ignored, and an ignored
# signal stays ignored in every program it starts (the project rightly keeps it so). The
# tests' processes get the dispositions a terminal gives, so a test's Ctrl-C is a Ctrl-C
# however pytest was started; each in a process group of its own, ended with the test.
STARTED: list[subprocess.Popen] = []


def terminal_signals() -> None:
    """In the child, before it runs: SIGINT, SIGHUP and SIGTERM as a terminal gives them."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@pytest.fixture
def terminal_dispositions():
    """For a test that sends a signal to its own process: SIGINT, SIGHUP and SIGTERM as a
    terminal gives them to Python, put back as they were after the test."""
    saved = {signum: signal.getsignal(signum)
             for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def spawn(args: list[str], preexec: Callable[[], None] | None = None,
          **kwargs) -> subprocess.Popen:
    """A process of the test's own, its output in text pipes; ended when the test ends,
    passed or failed, with everything it started (torchrun's workers too)."""
    def prepare() -> None:
        terminal_signals()
        if preexec:
            preexec()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=prepare, **kwargs)
    STARTED.append(proc)
    return proc


def finish(proc: subprocess.Popen, seconds: float = 120) -> tuple[str, str]:
    """What the process printed once it has ended; a failure if it has not within the limit."""
    try:
        return proc.communicate(timeout=limit(seconds))
    except subprocess.TimeoutExpired:
        end(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not end within {limit(seconds):.0f} s; it "
                             f"printed {out[-2000:]!r} and {err[-2000:]!r}") from None


def run_process(args: list[str], seconds: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run, with the tests' signals, deadline and ending."""
    proc = spawn(args, **kwargs)
    out, err = finish(proc, seconds)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def readline(proc: subprocess.Popen, seconds: float = 60) -> str:
    """The process's next line of output; a failure (and the process ended) if none comes."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(limit(seconds))
    if reader.is_alive():
        end(proc)
        raise AssertionError(f"{proc.args} printed no line within {limit(seconds):.0f} s")
    return line[0]


def end(proc: subprocess.Popen) -> None:
    """The process and its group, killed (a group whose members have all gone: nothing)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


@pytest.fixture(autouse=True)
def _end_what_the_test_started():
    yield
    while STARTED:
        proc = STARTED.pop()
        end(proc)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()


SERVING = re.compile(r"Serving (\S+) at (http://\S+:\d+/) \(Ctrl-C stops it\)\n")


def serving(args: list[str], **kwargs) -> tuple[subprocess.Popen, str]:
    """A script started with --serve: the process and its page's address (127.0.0.1 for a
    server on every address), the first line it prints."""
    proc = spawn(args, **kwargs)
    line = readline(proc, 120)
    match = SERVING.fullmatch(line)
    assert match, (line, finish(proc, 30) if proc.poll() is not None or not line else "")
    return proc, match.group(2).replace("[::]", "127.0.0.1").replace("0.0.0.0", "127.0.0.1")


# ----------------------------------------------------------------------------- a real browser

def need_browser() -> None:
    """Playwright and Debian's Chromium (tools/browser.py), or the test skips saying why."""
    import importlib.util

    from tools import browser

    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright is not installed (pip install -r requirements.txt)")
    if browser.chromium() is None:
        pytest.skip("no Chromium here (as root: apt-get install --no-install-recommends "
                    "chromium); CI installs it")


class Chromium:
    """Headless Chromium whose pages wait at most limit(30) s for anything: Playwright's
    default timeout, set here alone."""

    def __init__(self, browser) -> None:
        self.browser = browser

    def new_page(self, viewport: dict | None = None):
        page = self.browser.new_page(viewport=viewport)
        page.set_default_timeout(1000 * limit(30))
        return page


@pytest.fixture
def chromium():
    need_browser()
    from playwright.sync_api import sync_playwright

    from tools import browser

    with sync_playwright() as p:
        launched = browser.launch(p)
        try:
            yield Chromium(launched)
        finally:
            launched.close()


def torn_between(tmp_path, likeliest: dict[int, float]) -> str:
    """The simple CNN with weights that read every picture the same: `likeliest`'s
    probabilities (its classifier's weights 0, its bias their logarithms), saved for --load."""
    from safetensors.torch import save_file

    import simple_cnn

    model = simple_cnn.Net()
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([likeliest.get(d, 1e-6) for d in range(10)]).log())
    path = tmp_path / f"torn-{len(list(tmp_path.iterdir()))}.safetensors"
    save_file(model.state_dict(), str(path))
    return str(path)
