"""--serve while training: the page watches the run learn (pipeline/live.py).

The runs here are real scripts in their own processes, on the synthetic digits; the page is
read as a browser reads it, from /api/live's Server-Sent Events, and driven by its buttons'
POST requests (the browser test at the end clicks them).
"""
from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest
import torch

import simple_cnn
from conftest import (DIRECT, FINISHED, ROOT, call, draw_digit, finish, limit,
                      resumed_exactly, run_process, serving, wait_until)
from pipeline import serve

pytestmark = pytest.mark.slow  # python -m pytest --full

def start(mnist_dir, *flags: str) -> tuple[subprocess.Popen, str]:
    """simple_cnn.py --serve training on the synthetic digits; the process and its URL,
    printed before anything else."""
    return serving([sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu",
                    "--data-dir", str(mnist_dir), "--serve", "--port", "0", *flags])


def ctrl_c(proc: subprocess.Popen) -> tuple[str, str]:
    """Stop the server that stays after training; what the process printed after its URL."""
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, 60)
    assert proc.returncode == 130 and err == "stopped: interrupted\n", err
    return out, err


class Events:
    """One page's view of /api/live: every event, as they arrive, in a thread of its own."""

    def __init__(self, url: str) -> None:
        self.events: list[dict] = []
        self.arrived = threading.Condition()
        self.response = DIRECT.open(url + "api/live", timeout=limit(60))
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        for raw in self.response:
            if raw.startswith(b"data: "):
                with self.arrived:
                    self.events.append(json.loads(raw[6:]))
                    self.arrived.notify_all()

    def wait_for(self, kind: str, timeout: float = 60) -> dict:
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.of(kind), limit(timeout)), (kind,
                                                                                  self.events)
            return self.of(kind)[-1]

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def close(self) -> None:
        self.response.close()


def printed(out: str) -> list[str]:
    """A run's lines, its summary without the seconds (the time differs from run to run), and
    not the line naming where the weights went (each run writes its own file)."""
    lines = [line for line in out.splitlines()
             if line and not line.startswith(("Serving ", "weights saved to "))]
    return [FINISHED.sub(lambda m: f"Finished: {m.group(1)} epochs, best {m.group(2)}", line)
            for line in lines]


@pytest.fixture(scope="module")
def unpaused(tmp_path_factory):
    """The run the paused ones are compared with: 2 epochs, never served."""
    root = tmp_path_factory.mktemp("unpaused")
    from conftest import make_mnist
    data = make_mnist(root / "data")
    result = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir", str(data),
         "--epochs", "2", "--save-model", str(root / "net.pt"), "--metrics", str(root / "m.csv")],
        seconds=300)
    assert result.returncode == 0, result.stderr
    return {"data": data, "out": result.stdout, "model": root / "net.pt",
            "metrics": rows(root / "m.csv")}


def rows(path) -> list[dict[str, str]]:
    """The metrics CSV without its seconds (a run's time differs from run to run)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_a_run_paused_and_continued_prints_the_same_lines_and_ends_with_the_same_weights(
        unpaused, tmp_path):
    proc, url = start(unpaused["data"], "--epochs", "2", "--save-model", str(tmp_path / "net.pt"),
                      "--checkpoint", str(tmp_path / "ck.pt"))
    assert call(url + "api/pause", {}) == (200, {"paused": True, "saving": False})
    page = Events(url)
    paused = page.wait_for("paused")  # at the first cut: the first log line's 10 batches
    assert paused["x"] == 10 / 32 and paused["line"] == "paused at epoch 0.3125, after batch 10 of 32"
    assert call(url + "api/save", {})[0] == 200
    saved = page.wait_for("saved")
    between = page.events[page.events.index(paused) + 1:page.events.index(saved)]
    assert len(page.of("loss")) == 1 and not [e for e in between if e["type"] in ("loss", "test")]
    assert saved["line"] == f"{tmp_path / 'ck.pt'} holds epoch 0.31"
    shutil.copy(tmp_path / "ck.pt", tmp_path / "mid.pt")
    assert call(url + "api/continue", {}) == (200, {"paused": False, "saving": False})
    end = page.wait_for("end")
    out, _ = ctrl_c(proc)
    assert printed(out) == printed(unpaused["out"])
    resumed_exactly(tmp_path / "net.pt", unpaused["model"])
    assert end["line"] == FINISHED.search(out).group(0)
    assert [e["x"] for e in page.of("test")] == [1, 2]
    losses = [e["loss"] for e in page.of("loss")]  # the chart's points are the printed losses
    assert [f"{v:.6f}" for v in losses] == re.findall(r"Loss: (\d\.\d{6})", out)

    # The checkpoint saved from the page, between two test passes, resumes exactly.
    resumed = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir",
         str(unpaused["data"]), "--resume", str(tmp_path / "mid.pt"), "--save-model",
         str(tmp_path / "resumed.pt"), "--metrics", str(tmp_path / "m.csv")],
        seconds=300)
    assert resumed.returncode == 0, resumed.stderr
    assert printed(resumed.stdout)[:-1] == printed(unpaused["out"])[1:-1]  # from batch 10 on
    assert rows(tmp_path / "m.csv") == unpaused["metrics"]  # its training loss too, to the digit
    resumed_exactly(tmp_path / "resumed.pt", unpaused["model"])


def test_pages_early_late_and_gone_all_get_the_whole_run(mnist_dir, tmp_path):
    proc, url = start(mnist_dir, "--epochs", "3")
    early, leaving = Events(url), Events(url)
    leaving.wait_for("start")
    leaving.close()
    early.wait_for("end")
    late = Events(url)  # after the end: the history, the last snapshot, the end; then it closes
    late.wait_for("end")
    late.thread.join(limit(10))
    assert not late.thread.is_alive()
    ctrl_c(proc)
    points = lambda page: [e for e in page.events if e["type"] in ("loss", "test", "end")]
    assert points(late) == points(early) and len(early.of("test")) == 3
    snapshot = late.of("snapshot")[-1]
    assert snapshot["x"] == 3 and snapshot["filters"]["shape"] == [10, 1, 5, 5]
    mistakes = snapshot["mistakes"]
    assert mistakes["searched"] == 500 and len(mistakes["digits"]) == min(12, mistakes["wrong"])
    assert all(len(d["pixels"]) == 28 and d["label"] != d["said"] for d in mistakes["digits"])
    assert early.of("snapshot")[0]["filters"] != snapshot["filters"]  # it learned


def test_a_page_that_goes_away_is_let_go(tmp_path):
    httpd = serve.make_server(simple_cnn.Net(), "simple_cnn", "127.0.0.1", 0, training=True)
    httpd.start()
    try:
        live = httpd.page.live
        sockets = []
        for _ in range(3):
            s = socket.create_connection(httpd.server_address, timeout=limit(10))
            s.sendall(b"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.0 200")
            sockets.append(s)
        wait_until(lambda: live.clients == 3, 10, "three pages on /api/live")
        for s in sockets:
            s.close()
        # so the run takes no more snapshots for them
        wait_until(lambda: live.clients == 0, 10, "the pages let go")
    finally:
        httpd.close()


def test_the_drawing_is_read_by_the_latest_snapshot_and_then_by_the_trained_network(
        mnist_dir, tmp_path):
    picture = tmp_path / "seven.png"
    draw_digit(7, (120, 160), 110, stroke=4, ink=30, paper=235, mode="RGB").save(picture)
    body = {"image": base64.b64encode(picture.read_bytes()).decode()}
    proc, url = start(mnist_dir, "--epochs", "2", "--save-model", str(tmp_path / "net.pt"))
    call(url + "api/pause", {})
    page = Events(url)
    page.wait_for("paused")
    status, during = call(url + "api/predict", body)
    assert status == 200 and during["at"] == 0  # the snapshot taken before the first batch
    call(url + "api/continue", {})
    page.wait_for("end")
    status, after = call(url + "api/predict", body)
    ctrl_c(proc)
    assert status == 200 and after["at"] is None
    loaded = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--load",
         str(tmp_path / "net.pt"), "--predict", str(picture)])
    confidence = 100 * max(after["probabilities"])
    assert loaded.stdout == f"{picture}: {after['digit']} ({confidence:.1f}%)\n"
    assert during["probabilities"] != after["probabilities"]


def test_what_the_run_cannot_do_is_refused_with_one_line(mnist_dir, server):
    assert call(server + "/api/pause", {}) == (
        409, {"error": "nothing is training here: these are trained weights"})
    assert call(server + "/api/live")[0] == 404
    proc, url = start(mnist_dir, "--epochs", "1")
    call(url + "api/pause", {})
    assert call(url + "api/save", {}) == (
        409, {"error": "this run has no --checkpoint FILE to save to"})
    page = Events(url)
    page.wait_for("paused")
    call(url + "api/continue", {})
    page.wait_for("end")
    assert call(url + "api/pause", {}) == (409, {"error": "training has ended"})
    assert call(url + "api/info")[1]["live"] == "finished"
    ctrl_c(proc)


@pytest.mark.parametrize("how, status, words", [
    ("sigterm", 143, "stopped: terminated (SIGTERM) in epoch 1; "),
    ("nan", 1, "error: the loss became nan in epoch 1 at batch "),
    ("full disk", 1, "error: "),
])
def test_a_run_that_stops_says_its_line_on_the_page_and_exits(how, status, words, mnist_dir,
                                                              tmp_path, request):
    flags = ["--epochs", "2", "--checkpoint", str(tmp_path / "ck.pt")]
    if how == "nan":
        flags += ["--lr", "1e30"]
    if how == "full disk":
        folder = request.getfixturevalue("mounted")("size=64k")
        flags = ["--epochs", "2", "--checkpoint", str(folder / "ck.pt")]
    proc, url = start(mnist_dir, *flags)
    call(url + "api/pause", {})
    page = Events(url)
    page.wait_for("start")
    if how == "sigterm":
        page.wait_for("paused")
        proc.send_signal(signal.SIGTERM)
    elif how == "full disk":
        page.wait_for("paused")
        call(url + "api/save", {})
    else:
        call(url + "api/continue", {})
    stopped = page.wait_for("stopped")
    out, err = finish(proc, 60)
    assert proc.returncode == status and err.startswith(words), err
    assert err == stopped["line"] + "\n"  # the page says what the terminal says
    if how == "full disk":
        assert "No space left on device" in err and "training stopped in epoch 1" in err
    page.thread.join(limit(10))
    assert not page.thread.is_alive()  # the stream ended: the page is not left hanging


# ----------------------------------------------------------------------------- a real browser

def test_the_page_watches_it_learn_pauses_and_becomes_the_trained_page(mnist_dir, tmp_path,
                                                                         chromium):
    from tools import browser

    proc, url = start(mnist_dir, "--epochs", "12", "--save-model", str(tmp_path / "net.pt"),
                      "--checkpoint", str(tmp_path / "ck.pt"))
    page = chromium.new_page(viewport={"width": 1200, "height": 1100})
    page.goto(url)
    page.wait_for_function("document.getElementById('chart').dataset.losses > 0")
    page.click("#pause")
    page.wait_for_function("document.getElementById('live-state').textContent == 'paused'")
    first = page.evaluate("document.getElementById('chart').dataset.losses")
    filters = page.evaluate("[...document.querySelectorAll('#filters canvas')].map(c => c.toDataURL()).join()")
    paused = re.fullmatch(r"paused at epoch (\S+), after batch \d+ of \d+",
                          page.text_content("#live-line"))
    assert paused, page.text_content("#live-line")
    page.click("#save-now")  # saved where it paused: nothing trained while paused
    page.wait_for_function("document.getElementById('live-line').textContent.includes('holds')")
    assert page.text_content("#live-line").endswith(f"holds epoch {float(paused.group(1)):.2f}")
    assert page.evaluate("document.getElementById('chart').dataset.losses") == first
    browser.draw(page, browser.SEVEN)
    page.wait_for_function("document.querySelectorAll('#layers .layer').length == 6")
    assert "as it was at epoch" in page.text_content("#timing")
    page.click("#continue")
    page.wait_for_function("document.getElementById('live-state').textContent == 'trained'",
                           timeout=1000 * limit(120))
    page.wait_for_function("!document.getElementById('timing').textContent.includes('as it was')")
    assert int(page.evaluate("document.getElementById('chart').dataset.losses")) > int(first)
    assert page.evaluate("document.getElementById('chart').dataset.tests") == "12"
    assert page.evaluate("[...document.querySelectorAll('#filters canvas')].map(c => c.toDataURL()).join()") != filters
    assert "training now" not in page.text_content("#network")
    shown = page.text_content("#digit") + " " + page.text_content("#confidence")
    drawn = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    (tmp_path / "drawn.png").write_bytes(base64.b64decode(drawn.split(",")[1]))
    if os.environ.get("SCREENSHOTS"):  # the README's picture: SCREENSHOTS=docs pytest ...
        page.screenshot(path=os.path.join(os.environ["SCREENSHOTS"], "live.png"))
    page.set_viewport_size(browser.PHONE)  # the chart, filters and mistakes fit a phone
    widest = browser.widest(page)
    assert widest["right"] <= browser.PHONE["width"], widest
    out, _ = ctrl_c(proc)
    loaded = run_process(
        [sys.executable, str(ROOT / "simple_cnn.py"), "--device", "cpu", "--load",
         str(tmp_path / "net.pt"), "--predict", str(tmp_path / "drawn.png")])
    assert loaded.stdout.split(": ", 1)[1].strip() == shown  # "7 (99.1%)" on both



@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed here")
def test_under_torchrun_rank_0_serves_and_a_signal_stops_every_rank_with_the_pages_line(
        mnist_dir, tmp_path):
    proc, url = serving(  # one Serving line: rank 0's
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(ROOT / "simple_cnn.py"), "--device", "cpu", "--data-dir", str(mnist_dir),
         "--epochs", "1000", "--serve", "--port", "0", "--checkpoint", str(tmp_path / "ck.pt")],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    page = Events(url)
    assert page.wait_for("start")["torchrun"] is True
    assert call(url + "api/pause", {}) == (409, {"error": "under torchrun the page cannot "
                                                 "pause or save: every process would have to "
                                                 "stop at the same batch"})
    page.wait_for("test")
    proc.send_signal(signal.SIGTERM)
    stopped = page.wait_for("stopped")
    out, err = finish(proc, 120)
    lines = [line for line in err.splitlines() if line.startswith("stopped:")]
    assert lines == [stopped["line"]] and "terminated (SIGTERM) in epoch" in lines[0], err[-2000:]
    assert "Serving" not in out  # rank 1 trained and served nothing
