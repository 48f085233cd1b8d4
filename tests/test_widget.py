"""The page in a notebook cell (pipeline/notebook.py): the widget's answers are the server's,
and in a real JupyterLab the pad drawn with the mouse reads as --predict reads its picture."""
from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import call, limit, need_browser, picture_body, run_process



def need_widget() -> None:
    if importlib.util.find_spec("anywidget") is None:
        pytest.skip("anywidget is not installed (pip install -r requirements.txt)")


def timeless(answer):
    """An answer without the milliseconds it took (they differ from one call to the next)."""
    if isinstance(answer, dict):
        return {k: timeless(v) for k, v in answer.items() if k != "milliseconds"}
    if isinstance(answer, list):
        return [timeless(v) for v in answer]
    return answer


@pytest.fixture
def widget(trained):
    """The notebook's pad of the trained simple CNN, its messages to the views kept."""
    need_widget()
    import simple_cnn
    from pipeline.notebook import pad

    shown = pad(simple_cnn.Net(), trained["weights"])
    shown.sent = []
    shown.send = shown.sent.append
    return shown


def ask(widget, path: str, body=None):
    widget.asked(widget, {"kind": "ask", "id": "view:1", "path": path, "body": body}, [])
    reply = json.loads(json.dumps(widget.sent.pop(), allow_nan=False))  # as the comm sends it
    assert reply["kind"] == "answer" and reply["id"] == "view:1"
    return reply


@pytest.mark.parametrize("path, body", [
    ("/api/info", None),
    ("/api/examples", None),
    ("/api/predict", "picture"),
    ("/api/predict", "picture+attribution"),
    ("/api/attribute", "picture+target"),
    ("/api/tolerate", "picture+sliders"),
    ("/api/slide", {"op": "max", "input": [[1, 2], [3, 4]], "kernel": 2, "stride": 2, "padding": 0}),
])
def test_the_widget_answers_what_the_server_answers(widget, server, trained, path, body):
    """The same Page.reply behind both: the same JSON for the same request."""
    if isinstance(body, str):
        extra = {"picture+attribution": {"attribution": True}, "picture+target": {"target": 3},
                 "picture+sliders": {"sliders": {"rotate": 20}, "sweep": "rotate"}}
        body = {**picture_body(trained["pictures"][7]), **extra.get(body, {})}
    status, answer = call(server + path, body)
    assert status == 200, answer
    assert timeless(ask(widget, path, body)["answer"]) == timeless(answer)


@pytest.mark.parametrize("path, body", [
    ("/api/nothing", None), ("/api/nothing", {}), ("/api/predict", {}),
    ("/api/predict", {"image": "not base64!"}), ("/api/attribute", {"pixels": [[0.5]], "target": 10}),
    ("/api/pause", {}),
])
def test_a_request_the_server_refuses_is_the_same_line_in_the_widget(widget, server, path, body):
    status, answer = call(server + path, body)
    assert status >= 400
    assert ask(widget, path, body) == {"kind": "answer", "id": "view:1", "error": answer["error"]}


def test_a_view_that_listens_late_gets_every_event_once(widget):
    widget.push({"type": "loss", "x": 0.1, "loss": 2.0})
    widget.push({"type": "loss", "x": 0.2, "loss": 1.5})
    assert [m["n"] for m in widget.sent] == [0, 1]
    widget.asked(widget, {"kind": "listen", "id": "late:0", "path": "/api/live", "body": None}, [])
    assert widget.sent[-1]["answer"] == [{"type": "loss", "x": 0.1, "loss": 2.0},
                                         {"type": "loss", "x": 0.2, "loss": 1.5}]


def test_a_pad_watching_its_network_learn_pushes_the_page_s_live_events(trained, widget):
    """Between two pieces: the losses at every tenth batch, the filters, the mistakes and the
    drawing asked about last, read by a copy of the network taken then, which answers the
    widget until the next piece (never the network being trained); the test pass; the end."""
    import torch

    import common
    import simple_cnn
    from pipeline.data import load_mnist
    from pipeline.notebook import pad

    test = load_mnist(trained["data"], torch.device("cpu"))[1]
    model = simple_cnn.Net()
    watching = pad(model, watch=test, epochs=2)
    watching.sent = []
    watching.send = watching.sent.append
    assert ask(watching, "/api/info")["answer"]["live"] == "training"
    drawing = picture_body(trained["pictures"][7])
    ask(watching, "/api/predict", drawing)
    cut = common.Batches(test, torch.arange(len(test)), 64, 0, 5)  # 8 batches an epoch
    watching.learned(2, cut, torch.tensor([2.0, 1.9, 1.8, 1.7, 1.6]))
    read_then = ask(watching, "/api/predict", drawing)["answer"]["probabilities"]
    with torch.no_grad():
        model.fc.weight.add_(1.0)  # the cell trains on: the copy taken at the piece reads on
    assert ask(watching, "/api/predict", drawing)["answer"]["probabilities"] == read_then
    watching.tested(2, 0.5, 91.25)
    watching.trained()
    events = [m["event"] for m in watching.sent]
    assert [e["type"] for e in events] == ["start", "loss", "snapshot", "test", "end"]
    assert events[0]["batches"] == 8 and events[1] == {"type": "loss", "x": 1.0, "loss": 2.0, "lr": None}
    snapshot = events[2]
    assert snapshot["x"] == 1.625 and snapshot["answer"]["at"] == 1.625
    assert snapshot["answer"]["probabilities"] == read_then  # the same drawing, the same copy
    assert len(snapshot["filters"]["values"]) == 10 and snapshot["mistakes"]["searched"] == 500
    assert events[4]["line"] == "trained 2 epochs: 91.25% of the test set"
    assert ask(watching, "/api/info")["answer"]["live"] == "finished"
    assert ask(watching, "/api/predict", drawing)["answer"]["at"] is None  # the trained network


def test_the_widget_carries_every_module_the_page_imports():
    """widget.js imports the page's modules from the files it is given: all of web/'s."""
    need_widget()
    import re

    from pipeline.notebook import page_files

    files = page_files()
    for name, source in files.items():
        for imported in re.findall(r'from "\./([\w-]+\.js)"', source):
            assert imported in files, (name, imported)
    assert {"index.html", "style.css", "page.js", "api.js"} <= files.keys()


# ----------------------------------------------------------------------------- in JupyterLab

def pad_picture(widget, path: Path) -> str:
    """The pad's picture as the widget sends it (a PNG), written to `path`."""
    url = widget.locator(".pad").evaluate("(pad) => pad.toDataURL('image/png')")
    path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
    return str(path)


def predicted(script: Path, weights: Path, pictures: list[str]) -> list[str]:
    result = run_process([sys.executable, str(script), "--device", "cpu", "--load", str(weights),
                          "--predict", *pictures])
    assert result.returncode == 0, result.stderr
    return [line.rsplit(": ", 1)[1].split()[0] for line in result.stdout.splitlines()]


def drawn_and_read(page, widget, folder: Path, name: str) -> tuple[list[str], list[str]]:
    """Each of the three digits drawn with the mouse: what the widget read, and its picture."""
    from tools import browser

    read, pictures = [], []
    for i, strokes in enumerate((browser.SEVEN, browser.ONE, browser.ZERO)):
        browser.draw(page, strokes, where=widget)
        read.append(browser.read(page, widget))
        pictures.append(pad_picture(widget, folder / f"{name}{i}.png"))
    return read, pictures


def watched_learning(widget) -> None:
    """The training cell's widget: its chart, filters and mistakes from the notebook's loop
    (1000 digits, 16 batches: the loss at batches 0 and 10, one test pass), then trained."""
    from playwright.sync_api import expect

    expect(widget.locator("#live-state")).to_have_text("trained")
    expect(widget.locator("#chart")).to_have_attribute("data-losses", "2")
    expect(widget.locator("#chart")).to_have_attribute("data-tests", "1")
    expect(widget.locator("#filters canvas")).to_have_count(10)
    expect(widget.locator("#mistakes-title")).to_contain_text("at epoch 1:")


@pytest.mark.slow
@pytest.mark.timeout(limit(900))
def test_in_jupyterlab_the_pad_reads_as_predict_and_as_the_page(tmp_path, mnist_dir, chromium):
    """lecture10.ipynb run top to bottom in JupyterLab on the tests' MNIST; digits drawn on its
    pad with the mouse read as --predict reads the same pictures, and with the same
    probabilities (within 1e-5) as the --serve page's for the same strokes; the same for a
    learner's copy of the script, its weights from --save-model."""
    need_widget()
    need_browser()
    from tools import browser, jupyter

    folder = jupyter.project_copy(tmp_path / "project")
    shutil.copy(folder / "simple_cnn.py", folder / "my_cnn.py")  # the learner's own network
    trained = run_process([sys.executable, str(folder / "my_cnn.py"), "--device", "cpu",
                           "--data-dir", str(mnist_dir), "--epochs", "1", "--save-model",
                           str(folder / "my_cnn.pt")])
    assert trained.returncode == 0, trained.stderr
    env = {"MNIST_DATA_DIR": str(mnist_dir), "LECTURE10_QUICK": "1"}
    with jupyter.lab(folder, env, seconds=limit(120)) as url:
        page = jupyter.open_notebook(chromium, url, "lecture10.ipynb")
        jupyter.run_all(page, limit(600))
        watched_learning(jupyter.widgets(page).first)
        widget = jupyter.widgets(page).last
        read, pictures = drawn_and_read(page, widget, tmp_path, "notebook")
        in_widget = browser.probabilities(widget)
        assert read == predicted(folder / "simple_cnn.py", folder / "simple_cnn_notebook.pt", pictures)

        import simple_cnn
        from pipeline import checkpoints, serve

        model = simple_cnn.Net()
        checkpoints.load_weights(model, str(folder / "simple_cnn_notebook.pt"), "simple_cnn")
        httpd = serve.make_server(model, "simple_cnn", "127.0.0.1", 0)
        httpd.start()
        try:
            served = browser.open_page(chromium, f"http://127.0.0.1:{httpd.server_address[1]}/")
            browser.draw(served, browser.ZERO)
            browser.read(served)
            assert browser.probabilities(served) == pytest.approx(in_widget, abs=1e-5)
        finally:
            httpd.close()

        jupyter.add_cell(page, 'import my_cnn\npad(my_cnn.Net(), "my_cnn.pt")')
        assert jupyter.widgets(page).count() == 3  # watching it learn, after training, the learner's
        mine = jupyter.widgets(page).last
        read, pictures = drawn_and_read(page, mine, tmp_path, "mine")
        assert read == predicted(folder / "my_cnn.py", folder / "my_cnn.pt", pictures)
