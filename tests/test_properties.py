"""Properties over every input the project reads, on inputs Hypothesis generates rather than
a list of cases: a damaged input is one clear line, never a traceback or a run on nonsense."""
from __future__ import annotations

import os
import tempfile

import pytest
import torch

import simple_cnn
from conftest import run

hypothesis = pytest.importorskip("hypothesis", reason="pip install -r requirements-dev.txt")
from hypothesis import given, strategies as st  # noqa: E402

pytestmark = pytest.mark.slow  # python -m pytest --full


# ----------------------------------------------------------------------------- checkpoints

def not_a_count(low: int = 0) -> st.SearchStrategy:
    return st.one_of(st.integers(max_value=low - 1), st.floats(), st.text(max_size=5),
                     st.none(), st.lists(st.integers(), max_size=2))


BAD_SETTINGS = {  # a value each setting's own flag refuses
    "lr": st.one_of(st.floats(max_value=0), st.just(float("nan")), st.text(max_size=3)),
    "momentum": st.one_of(st.floats(min_value=1), st.floats(max_value=-1e-9)),
    "weight_decay": st.floats(max_value=-1e-9),
    "grad_clip": st.one_of(st.floats(max_value=-1e-9), st.just(float("inf"))),
    "optimizer": st.text(max_size=8).filter(lambda v: v not in ("sgd", "nesterov", "adamw")),
    "schedule": st.text(max_size=8).filter(lambda v: v not in ("constant", "onecycle")),
    "recipe": st.text(max_size=8).filter(lambda v: v not in ("lecture", "fast", "handwriting")),
    "augment": st.one_of(st.integers(max_value=-1), st.integers(min_value=28)),
    "rotate": st.floats(min_value=180.001),
    "test_batch_size": st.integers(max_value=0),
    "evals_per_epoch": st.one_of(st.integers(max_value=0), st.floats()),
    "seed": st.one_of(st.integers(min_value=2**64), st.text(min_size=1, max_size=3)),
}


@st.composite
def damaged(draw, ck: dict) -> tuple[dict, str]:
    """The trained checkpoint with one thing wrong, and the field a clear line must name."""
    ck = {**ck, "rng": dict(ck["rng"]), "args": dict(ck["args"])}
    how = draw(st.sampled_from(["missing", "type", "past the epoch", "beyond the epochs",
                                "rng size", "setting", "metrics", "optimizer", "schedule",
                                "nesterov"]))
    if how == "missing":
        field = draw(st.sampled_from(["network", "epoch", "batch", "model", "optimizer",
                                      "scheduler", "rng", "args", "metrics", "rng.batch_order",
                                      "rng.torch"]))
        holder, key = (ck["rng"], field[4:]) if field.startswith("rng.") else (ck, field)
        del holder[key]
    elif how == "type":
        field = draw(st.sampled_from(["epoch", "batch", "batches"]))
        ck[field] = draw(not_a_count(1 if field == "batches" else 0))
    elif how == "past the epoch":
        field, ck["batch"] = "batch", draw(st.integers(ck["batches"], ck["batches"] + 10**6))
    elif how == "beyond the epochs":
        field, ck["epoch"] = "epoch", draw(st.integers(ck["args"]["epochs"] + 1, 10**6))
    elif how == "rng size":
        field = draw(st.sampled_from(["rng.batch_order", "rng.torch"]))
        n = draw(st.integers(0, 6000).filter(lambda n: n != torch.get_rng_state().numel()))
        state = torch.zeros(n, dtype=torch.uint8)
        ck["rng"][field[4:]] = state if field == "rng.batch_order" else [state]
    elif how == "setting":
        key = draw(st.sampled_from(sorted(BAD_SETTINGS)))
        field, ck["args"][key] = f"args.{key}", draw(BAD_SETTINGS[key])
    elif how == "metrics":
        row = dict(ck["metrics"][-1])
        row[draw(st.sampled_from(["test_accuracy", "epoch"]))] = draw(
            st.floats(min_value=100.001, max_value=1e9))
        field, ck["metrics"] = "metrics", [*ck["metrics"], row]
    elif how == "optimizer":  # the momentum of other parameters than the network's
        optimizer = {**ck["optimizer"], "state": dict(ck["optimizer"]["state"])}
        k = draw(st.sampled_from(sorted(optimizer["state"])))
        optimizer["state"][k] = {"momentum_buffer": torch.zeros(draw(st.integers(1, 7)), 3)}
        field, ck["optimizer"] = "optimizer", optimizer
    elif how == "schedule":
        field, ck["scheduler"] = "scheduler", {"last_epoch": draw(st.integers(0, 99))}
    else:
        field, ck["args"]["optimizer"], ck["args"]["momentum"] = "args.momentum", "nesterov", 0.0
    return ck, field


@pytest.fixture(scope="module")
def saved_checkpoint(trained) -> dict:
    return torch.load(trained["checkpoint"], weights_only=True)


def test_a_damaged_checkpoint_is_one_line_naming_the_field_and_never_trains(
        saved_checkpoint, trained, capsys):
    """Any field missing, of another type, out of range, or disagreeing with the others: the
    run stops before training with one line naming the field, exit status 1."""
    @given(damaged(saved_checkpoint))
    def check(example):
        ck, field = example
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "ck.pt")
            torch.save(ck, path)
            code, out, err = run(simple_cnn, capsys, "--data-dir", trained["data"], "--resume",
                                 path, "--epochs", "5")
        assert code == 1 and "Train Epoch" not in out, (field, out[-300:], err)
        assert err.count("\n") == 1 and err.startswith(f"error: {path}: "), (field, err)
        named = field.split(".")[0] if field.startswith("args.") else field
        assert f"its {field} " in err or f"its {named} " in err, (field, err)

    check()


# ----------------------------------------------------------------------------- pictures

MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK", "YCbCr", "LAB", "HSV"]
FORMATS = ["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM"]


@st.composite
def picture_bytes(draw) -> bytes:
    """A picture file as a learner might give one: any mode, size and format Pillow writes,
    float TIFFs holding NaN and infinities, cut short or with junk around it; or any bytes."""
    import io

    import numpy as np
    from PIL import Image

    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=2000))
    mode = draw(st.sampled_from(MODES))
    size = (draw(st.integers(1, 300)), draw(st.integers(1, 300)))
    seed = draw(st.integers(0, 2**32 - 1))
    noise = np.random.default_rng(seed).random((size[1], size[0]))
    if mode == "F":  # a float TIFF, with values no picture of a digit has
        noise[noise < 0.05] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38]))
        img = Image.fromarray(noise.astype(np.float32), "F")
    else:
        img = Image.fromarray((noise * 255).astype(np.uint8), "L").convert(mode)
    out = io.BytesIO()
    for fmt in [draw(st.sampled_from(FORMATS)), "TIFF"]:  # TIFF takes every mode here
        try:
            img.save(out, format=fmt)
            break
        except (OSError, ValueError, KeyError):
            out = io.BytesIO()
    data = out.getvalue()
    cut = draw(st.sampled_from(["whole", "cut", "junk before", "junk after"]))
    if cut == "cut":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif cut == "junk before":
        data = draw(st.binary(min_size=1, max_size=16)) + data
    elif cut == "junk after":
        data = data + draw(st.binary(min_size=1, max_size=64))
    return data


def test_any_picture_is_read_or_refused_in_one_line():
    """--predict, --explain and the page read every picture through load_digit: it gives a
    finite 1 x 28 x 28 digit or a UserError, never another exception (a picture too large to
    decode is refused from its header: tests/test_faults.py)."""
    from pipeline.data import load_digit
    from pipeline.errors import UserError

    @given(picture_bytes())
    def check(data):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "digit")
            with open(path, "wb") as f:
                f.write(data)
            try:
                digit = load_digit(path)
                assert digit.shape == (1, 28, 28) and torch.isfinite(digit).all()
            except UserError as e:
                assert "\n" not in str(e) and str(e).startswith(path), str(e)

    check()


# ----------------------------------------------------------------------------- the page's API

ENDPOINTS = ["/api/predict", "/api/attribute", "/api/tolerate", "/api/slide", "/api/pause",
             "/api/continue", "/api/save"]
KEYS = ["image", "pixels", "target", "sliders", "sweep", "op", "input", "kernel", "stride",
        "padding", "attribution", "rotate", "shift_x"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


def test_any_json_to_any_endpoint_is_answered_and_the_server_goes_on(server):
    """Every endpoint answers any JSON body (NaN and infinities too) with a 200, or a 4xx and
    one line of JSON error; never a 500, and the server still answers afterwards."""
    import json

    from conftest import call

    @given(st.sampled_from(ENDPOINTS), JSON | st.fixed_dictionaries(
        {}, optional={k: JSON for k in KEYS}))
    def check(endpoint, body):
        raw = json.dumps(body).encode()  # NaN and Infinity as Python writes them
        status, answer = call(server + endpoint, raw=raw, method="POST",
                              headers={"Content-Type": "application/json"})
        assert status == 200 or (400 <= status < 500 and "\n" not in answer["error"]), \
            (endpoint, body, status, answer)

    check()
    assert call(server + "/api/info")[0] == 200


# ----------------------------------------------------------------------------- MNIST's files

@st.composite
def damaged_idx(draw) -> tuple[str, bytes]:
    """One of the four MNIST files with its header, counts or size changed (or left alone)."""
    import struct

    from pipeline.data import MNIST_FILES

    name = draw(st.sampled_from(sorted(MNIST_FILES)))
    shape = MNIST_FILES[name]
    ndim = 1 + len(shape)
    count = draw(st.integers(0, 40))
    header = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}i", count, *shape)
    body = bytes(count * (28 * 28 if shape else 1))  # black images, labels 0
    how = draw(st.sampled_from(["header bytes", "dims", "cut", "longer", "labels", "alone"]))
    if how == "header bytes":
        at = draw(st.integers(0, len(header) - 1))
        header = header[:at] + bytes([draw(st.integers(0, 255))]) + header[at + 1:]
    elif how == "dims":
        dims = [draw(st.integers(-2**31, 2**31 - 1)) for _ in range(ndim)]
        header = header[:4] + struct.pack(f">{ndim}i", *dims)
    elif how == "cut":
        body = body[:draw(st.integers(0, max(0, len(body) - 1)))]
    elif how == "longer":
        body += draw(st.binary(min_size=1, max_size=50))
    elif how == "labels" and not shape:
        body = bytes(draw(st.integers(0, 255)) for _ in range(count))
    return name, header + body


def test_any_damage_to_mnist_s_files_is_one_line_naming_the_file(tmp_path_factory):
    """A header, count or size that is wrong: the loader gives the data or one UserError that
    names the file (or the folder, for files that disagree), never another exception."""
    from conftest import make_mnist
    from pipeline.data import load_mnist
    from pipeline.errors import UserError

    @given(damaged_idx())
    def check(damage):
        name, data = damage
        root = make_mnist(tmp_path_factory.mktemp("idx"), n_train=60, n_test=40)
        raw = root / "MNIST" / "raw"
        (raw / name).write_bytes(data)
        try:
            train, test = load_mnist(str(root), torch.device("cpu"))
            assert len(train) and len(test)
        except UserError as e:
            assert "\n" not in str(e) and str(raw) in str(e), str(e)

    check()


@st.composite
def damaged_pen_file(draw) -> bytes:
    """The pen-digit file's gzipped JSON lines, with a line's field changed (any JSON, or
    strokes of any shape and size) or gone, its text or the bytes changed (or left alone)."""
    import gzip
    import json

    rows = [{"label": 7, "writer": "w", "source": "syn", "strokes": [[[0, 0], [9, 20]]]}] * 3
    lines = [json.dumps(r) for r in rows]
    how = draw(st.sampled_from(["field", "text", "gzip", "alone"]))
    if how == "field":
        row = dict(rows[0])
        key = draw(st.sampled_from(sorted(row)))
        point = st.lists(st.integers(-2**70, 2**70), min_size=2, max_size=2)
        row[key] = draw(JSON | st.lists(st.lists(point, max_size=6), max_size=3))
        if draw(st.booleans()):
            del row[key]
        lines[draw(st.integers(0, 2))] = json.dumps(row)
    elif how == "text":
        lines[draw(st.integers(0, 2))] = draw(st.text(max_size=60))
    packed = gzip.compress("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    if how == "gzip":
        at = draw(st.integers(0, len(packed) - 1))
        packed = packed[:at] + draw(st.binary(max_size=8)) + packed[at + 1:]
    return packed


def test_any_damage_to_the_pen_digit_file_is_one_line_naming_it(tmp_path_factory):
    """A line that is not a pen digit, text that is not JSON, bytes that are not gzip: the
    loader gives pen digits (each of them drawable) or one UserError naming the file."""
    from pipeline import pens
    from pipeline.errors import UserError

    @given(damaged_pen_file())
    def check(packed):
        path = tmp_path_factory.mktemp("pens") / "digits.jsonl.gz"
        path.write_bytes(packed)
        try:
            digits = pens.load(path)
        except UserError as e:
            assert "\n" not in str(e) and str(e).startswith(str(path)), str(e)
            return
        assert digits and pens.PenPictures.of(digits, torch.device("cpu")).draw(
            torch.full((len(digits),), 0.1)).isfinite().all()

    check()
