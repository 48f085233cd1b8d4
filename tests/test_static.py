"""--export-page DIR: the page as a static site (pipeline/static.py), run in the browser by
onnxruntime-web with no Python behind it: it reads drawings as --predict and PyTorch do.
"""
from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import pytest

from conftest import NETWORKS, ROOT, finish, limit, readline, run_process, spawn, torn_between

pytestmark = pytest.mark.slow


def need_runtime() -> Path:
    """onnxruntime-web in the cache (.ci/run fetches it with npm), or the test skips."""
    from pipeline import static

    cache = static.cache_dir()
    if not all((cache / f).is_file() for f in static.ORT_FILES):
        pytest.skip(f"onnxruntime-web {static.ORT_VERSION} is not in {cache} (python -m "
                    f"pipeline.static fetches it with npm; .ci/run does)")
    return cache


@pytest.fixture(scope="module")
def site(trained, tmp_path_factory):
    """The trained simple CNN's page exported by its script: the folder, what it printed."""
    need_runtime()
    folder = tmp_path_factory.mktemp("site") / "page"
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--load",
                          trained["weights"], "--export-page", str(folder)])
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


@pytest.fixture
def hosted(site):
    """The folder served by the standard library's http.server (not by the project): its URL."""
    proc = spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                  str(site[0]), "0"])
    line = readline(proc, 60)
    port = re.search(r"port (\d+)", line)
    assert port, (line, finish(proc, 10))
    yield f"http://127.0.0.1:{port.group(1)}/"
    proc.terminate()


def test_the_export_says_its_size_and_writes_nothing_of_the_project_s_server(site):
    folder, printed = site
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"index.html", "static.js", "prepare.js", "page.js", "pad.js", "network.onnx",
            "network.json", "README.txt", "ort/ort.wasm.bundle.min.mjs",
            "ort/ort-wasm-simd-threaded.wasm"} <= names
    assert "app.js" not in names and "widget.js" not in names
    size = sum((folder / n).stat().st_size for n in names) / 2**20
    assert re.search(rf"^page: {re.escape(str(folder))}: {size:.1f} MB \(onnxruntime-web ", printed, re.M)
    html = (folder / "index.html").read_text()
    assert 'src="static.js"' in html and 'href="/' not in html and 'src="/' not in html


def open_offline(chromium, url: str, viewport=None, touch: bool = False):
    """The page in Chromium with every request beyond 127.0.0.1 refused (and counted)."""
    context = chromium.browser.new_context(viewport=viewport or {"width": 1200, "height": 1400},
                                           has_touch=touch)
    context.set_default_timeout(1000 * limit(60))
    refused = []

    def only_here(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            return route.continue_()
        refused.append(route.request.url)
        return route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => document.querySelector('#digit').dataset.drawing !== undefined"
                           " || document.querySelector('#prepared')")
    return page, refused


def pad_png(page, path: Path) -> str:
    url = page.locator(".pad").evaluate("(pad) => pad.toDataURL('image/png')")
    path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
    return str(path)


def torch_probabilities(weights: str, picture: str) -> list[float]:
    import simple_cnn
    from pipeline import checkpoints
    from pipeline.data import load_digit

    model = simple_cnn.Net()
    checkpoints.load_weights(model, weights, "simple_cnn")
    model.eval()
    import torch
    with torch.inference_mode():
        return model(load_digit(picture)[None]).exp()[0].tolist()


def touch_draw(page, strokes) -> None:
    """Strokes drawn with a finger: touch events through Chromium's DevTools protocol."""
    box = page.locator(".pad").bounding_box()
    cdp = page.context.new_cdp_session(page)
    at = lambda x, y: {"x": box["x"] + x * box["width"] / 280, "y": box["y"] + y * box["height"] / 280}
    for stroke in strokes:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(*stroke[0])]})
        for point in stroke[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [at(*point)]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_the_static_page_reads_drawings_as_predict_and_pytorch_do(trained, hosted, chromium, tmp_path):
    """Served by http.server, nothing fetched beyond it: a 7, a 1 and a 0 drawn with the mouse
    read as --predict reads the pad's pictures, with PyTorch's probabilities within 1e-4."""
    from tools import browser

    page, refused = open_offline(chromium, hosted)
    read, pictures = [], []
    for i, strokes in enumerate((browser.SEVEN, browser.ONE, browser.ZERO)):
        browser.draw(page, strokes)
        read.append(browser.read(page))
        pictures.append(pad_png(page, tmp_path / f"drawn{i}.png"))
        assert browser.probabilities(page) == pytest.approx(
            torch_probabilities(trained["weights"], pictures[-1]), abs=1e-4)
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--load", trained["weights"],
                          "--predict", *pictures])
    assert read == [line.rsplit(": ", 1)[1].split()[0] for line in result.stdout.splitlines()]
    assert refused == [] and page.locator("#left-out").is_visible()
    assert page.locator("#tolerate-panel").is_hidden() and page.locator("#action-panel").is_hidden()


def test_a_finger_draws_on_the_static_page_at_a_phone_s_size(trained, hosted, chromium, tmp_path):
    from tools import browser

    page, refused = open_offline(chromium, hosted, browser.PHONE, touch=True)
    page.locator("#clear").click()
    touch_draw(page, browser.ONE)
    digit = browser.read(page)
    picture = pad_png(page, tmp_path / "touched.png")
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--load", trained["weights"],
                          "--predict", picture])
    assert result.stdout.startswith(f"{picture}: {digit} (") and refused == []
    far = browser.widest(page)
    assert far["right"] <= browser.PHONE["width"], far


def test_the_browser_prepares_pen_digits_as_python_does(hosted, chromium, tmp_path):
    """prepare.js against data.prepare_digit on 50 people's pen digits drawn with the pad's
    pen: the same 28 x 28 within 1e-5 (float32 sums in another order)."""
    import numpy as np

    from pipeline import pens
    from pipeline.data import load_digit

    page, _ = open_offline(chromium, hosted)
    digits = pens.load()[::225][:50]
    strokes = [pens.on_pad(d) for d in digits]
    found = page.evaluate("""async (all) => {
        const { greyOf, prepare } = await import("./prepare.js");
        const out = [];
        for (const strokes of all) {
            const canvas = document.createElement("canvas");
            canvas.width = canvas.height = 280;
            const ink = canvas.getContext("2d");
            ink.fillStyle = "white"; ink.fillRect(0, 0, 280, 280);
            Object.assign(ink, {strokeStyle: "black", lineWidth: 18, lineCap: "round", lineJoin: "round"});
            for (const s of strokes) {
                ink.beginPath(); ink.moveTo(...s[0]);
                for (const p of s) ink.lineTo(...p);
                ink.stroke();
            }
            out.push([canvas.toDataURL("image/png"), prepare(greyOf(ink.getImageData(0, 0, 280, 280))).input]);
        }
        return out;
    }""", strokes)
    largest = 0.0
    for i, (url, browser_input) in enumerate(found):
        path = tmp_path / f"pen{i}.png"
        path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        python_input = load_digit(str(path)).numpy().ravel()
        largest = max(largest, float(np.abs(python_input - np.array(browser_input)).max()))
    assert len(found) == 50 and largest < 1e-5, largest


@pytest.mark.parametrize("network", NETWORKS)
def test_every_network_exports_or_says_why_not(network):
    """Each network's page outputs (log-probabilities, the classifier's input, every layer's)
    in onnxruntime within 1e-4 of PyTorch's on people's pen digits."""
    import torch

    from pipeline import networks, static

    torch.manual_seed(0)
    model = networks.load(network).Net().eval()
    onnx_model = static.to_onnx(model)
    assert static.largest_gap(model, onnx_model, static.check_pictures(4)) <= static.TOLERANCE
    described = static.described(model, network, None)
    assert json.loads(json.dumps(described))["info"]["network"] == network


def test_the_static_page_names_both_digits_where_the_network_is_torn(chromium, tmp_path):
    """The rule the server follows (answers.torn), in the browser: a network that reads every
    picture as 62% 7 and 38% 1, exported, served by http.server, a 7 drawn."""
    need_runtime()
    folder = tmp_path / "page"
    weights = torn_between(tmp_path, {7: 0.62, 1: 0.38})
    result = run_process([sys.executable, str(ROOT / "simple_cnn.py"), "--load", weights,
                          "--export-page", str(folder)])
    assert result.returncode == 0, result.stderr
    proc = spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                  str(folder), "0"])
    port = re.search(r"port (\d+)", readline(proc, 60)).group(1)
    page, refused = open_offline(chromium, f"http://127.0.0.1:{port}/")
    from tools import browser

    browser.draw(page, browser.SEVEN)
    assert browser.read(page) == "7" and not refused
    assert page.locator("#torn").text_content() == \
        "Torn: 7 \u2014 or a 1 as written in much of Europe?"
    proc.terminate()
