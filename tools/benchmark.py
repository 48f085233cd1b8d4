"""Time one epoch of each network with the project's pipeline and with the lecture's, side by side.

    python -m tools.benchmark --data-dir ../shared/data
    python -m tools.benchmark --data-dir ../shared/data --amp
    python -m tools.benchmark --data-dir ../shared/data --networks simple_cnn --repeats 3
    python -m tools.benchmark --data-dir ../shared/data --networks deep_cnn inception_v3_cnn --no-time-to-accuracy
    python -m tools.benchmark --prediction-time --networks simple_cnn inception_cnn deep_cnn
    python -m tools.benchmark --drawing --networks simple_cnn inception_cnn --repeats 10
    python -m tools.benchmark --drawing --notebook --networks simple_cnn inception_cnn --repeats 10
    python -m tools.benchmark --drawing --static --networks simple_cnn inception_cnn --repeats 10
    python -m tools.benchmark --pen-digits --data-dir ../shared/data --repeats 3

The lecture's pipeline is its own code brought up to date: a DataLoader over
torchvision's MNIST with a per-sample ToTensor(), batch 64 for training and for the test set
(as 10_1_cnn_mnist.py has it), shuffled, and the network in the default memory format. The
project's pipeline is common.py's: normalised tensors held on the device, batches indexed
from a permutation, channels_last, test batches of 1000. Both train the same network with
the same optimiser (SGD, lr 0.01, momentum 0.5) for one epoch and then run the test set; the
time is that wall time, which is what the scripts' "s/epoch" reports. The two run alternately
in one process, `--repeats` times, and the table shows the median of each. `--amp` adds a
row per network for the project's pipeline under bf16 autocast.

The table also gives the arithmetic floor of an epoch: the FLOPs of training 60,000 images
(forward and backward, as torch.utils.flop_counter counts convolutions and matrix products)
divided by the rate of a large fp32 (or, for --amp rows, bf16) matrix product measured on
this machine, and the time to 98.5% and 99.0% test accuracy with `--recipe fast`: the
script's own run with --target-accuracy 99.0, which tests four times an epoch; the time is
the training and test passes up to the first test at or above each mark.

`--prediction-time` instead times what the --serve page waits for: one POST /api/predict of
a 280 x 280 drawing (as the page sends it), answered with every layer's output; the median
over 50 requests, inside the server (preparing the picture is not in it; the forward pass
with its hooks is), end to end over HTTP on this machine, and end to end with where it
looked (Captum's three attributions for the digit it read, as the page asks); and one POST
/api/tolerate sweeping the rotation slider across its range (each of its steps and the
setting, in one batch: pipeline/tolerate.py's SLIDERS), end to end. It needs no data.

`--drawing` instead times how fluid the page's pad is in Chromium (Debian's, driven by
Playwright): each mouse move while a 7 is drawn, median and 90th percentile, with the
answers arriving and, alternating with it, with the page's requests refused, which leaves
the page's pointer handling and one frame (`--repeats` sevens each way, at least 5); and the
page's main-thread time for each answer it drew. It needs no data (the network is untrained;
its answers are the same size). With `--notebook` it draws instead on the page and on the
notebook's widget in JupyterLab (pipeline/notebook.py: the same modules, answered by the
kernel), alternating in one Chromium, each answer waited for: a move and an answer drawn on each.
With `--static` it opens and draws instead on the page and on the `--export-page` site (the
network in onnxruntime-web, served by http.server), alternating: the seconds from opening to
the first answer, and each move.

`--live` instead times what watching a run costs it: the simple CNN's lecture epoch
(training and the test pass, the script's "s/epoch"), as `simple_cnn.py --epochs 1` trains
it, in this process, alternating three ways `--repeats` times: plain; with --serve and no page
open; and with --serve and one page open that does what the page does, reading /api/live and,
at every snapshot, sending its drawing (a 7) to /api/predict again (a process of its own, as
a browser is). Besides the medians it
gives the mean and standard deviation of each repeat's difference from the plain epoch beside
it, and the time the run itself spent between batches on the page.

`--pen-digits` instead times what people's pen digits cost a run and the page: the simple
CNN's `--recipe handwriting` for one epoch as its script runs it (its "s/epoch": training, the
pen digits drawn for the epoch, the test pass), with `--pen-digits none` and `all` alternating
`--repeats` times; in this process, the pen digits made ready once (their distance fields)
and all 11,243 drawn for an epoch, as written and with their styles (pipeline/styles.py: their
restyled twins made ready too, and the extra styled pictures drawn); and each mouse move on the page's pad, a 7 drawn as before
and a person's pen digit replayed along its pen path, as tools.handwriting drawn does.

This is a benchmark, not a test: run it on a quiet machine and read the ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import common
from pipeline import networks
from pipeline.data import load_mnist
from pipeline.device import device_forward, pick_device, prepare_model
from pipeline.errors import UserError
from pipeline.settings import positive_int

ROOT = Path(__file__).resolve().parent.parent  # the scripts


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lecture_epoch(net_factory, data_dir: str, device: torch.device) -> float:
    """The lecture's loop (10_1_cnn_mnist.py), minus its 2017 API, timed over train + test."""
    from torchvision import datasets, transforms

    train_set = datasets.MNIST(data_dir, train=True, transform=transforms.ToTensor())
    test_set = datasets.MNIST(data_dir, train=False, transform=transforms.ToTensor())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=64, shuffle=False)
    model = net_factory().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)

    sync(device)
    start = time.perf_counter()
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        if batch_idx % 10 == 0:
            loss.item()  # the lecture prints the loss every 10 batches
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            correct += (model(data).argmax(1) == target).sum().item()
    sync(device)
    return time.perf_counter() - start


def project_epoch(net_factory, train_data: common.Split, test_data: common.Split,
                  device: torch.device, amp: bool = False) -> float:
    """common.py's train() and test() with the lecture's settings (their lines made, not
    shown), as a run calls them: cut at every 10th batch, where it checks the losses."""
    torch.manual_seed(1)
    model = prepare_model(net_factory(), device)
    forward = device_forward(model, device, amp)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    order = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(1))
    order = order.to(device)
    sync(device)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        batches = common.Batches(train_data, order, 64)
        for first in range(0, len(batches), 10):
            piece = common.Batches(train_data, order, 64, first, min(first + 10, len(batches)))
            torch.isfinite(common.train(forward, optimizer, piece, 1, 10)).all().item()
        common.test(forward, test_data, 1000)
    sync(device)
    return time.perf_counter() - start


def epoch_gflop(net_factory) -> float:
    """FLOPs of one training epoch (60,000 images, forward + backward), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    model = net_factory()
    images, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    with FlopCounterMode(display=False) as counter:
        common.training_loss(model(images), labels).backward()
    return counter.get_total_flops() / 64 * 60_000 / 1e9


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32,
                  seconds: float = 2.0) -> float:
    """The rate of a large matrix product here, in fp32 or bf16: the arithmetic ceiling."""
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    b = torch.randn(2048, 2048, device=device, dtype=dtype)
    a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    sync(device)
    return 2 * 2048 ** 3 * count / (time.perf_counter() - start) / 1e9


def time_to_accuracy(module, data_dir: str, device: str,
                     amp: bool = False) -> tuple[float | None, float | None]:
    """Seconds of `--recipe fast` until the test accuracy first reaches 98.5% and 99.0%.

    The script's own run, with --target-accuracy 99.0 (so four test passes an epoch); the
    seconds are its metrics' (training and test passes, not the loading of the data).
    """
    with tempfile.TemporaryDirectory() as folder:
        metrics = os.path.join(folder, "metrics.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            module.main(["--recipe", "fast", "--target-accuracy", "99.0", "--data-dir",
                         data_dir, "--device", device, "--metrics", metrics,
                         "--log-interval", "1000000", *(["--amp"] if amp else [])])
        with open(metrics, newline="") as f:
            rows = list(csv.DictReader(f))
    reached, elapsed = {}, 0.0
    for row in rows:
        elapsed += float(row["seconds"])
        for mark in (98.5, 99.0):
            if float(row["test_accuracy"]) >= mark:
                reached.setdefault(mark, elapsed)
    return reached.get(98.5), reached.get(99.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="./data", help="folder holding MNIST/raw (default: ./data)")
    p.add_argument("--device", default="auto", help="as in the scripts (default: auto)")
    p.add_argument("--networks", nargs="+", choices=networks.names(),
                   default=["simple_cnn", "inception_cnn"],
                   help="which networks (scripts) to time (default: simple_cnn inception_cnn)")
    p.add_argument("--no-time-to-accuracy", action="store_true",
                   help="skip the --recipe fast runs to 98.5%% and 99.0%% (default: run them)")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="epochs of each pipeline per network, alternating (default: 1)")
    p.add_argument("--amp", action="store_true",
                   help="add rows for the project's pipeline under --amp (bf16 autocast), "
                        "with its floor at the bf16 matrix-product rate (default: fp32 only)")
    p.add_argument("--prediction-time", action="store_true",
                   help="time one --serve prediction per network instead (default: off)")
    p.add_argument("--drawing", action="store_true",
                   help="time each mouse move on the --serve page's pad in Chromium, answers "
                        "arriving and answers refused, per network instead (default: off)")
    p.add_argument("--notebook", action="store_true",
                   help="with --drawing: the notebook's widget in JupyterLab beside the page, "
                        "alternating (default: the page alone)")
    p.add_argument("--static", action="store_true",
                   help="with --drawing: the --export-page site (served by http.server) beside "
                        "the --serve page: opening to the first answer, and each mouse move "
                        "(default: the page alone)")
    p.add_argument("--pen-digits", action="store_true",
                   help="time the simple CNN's handwriting epoch with and without the pen "
                        "digits, and the page's pad drawing a 7 and a pen digit (default: off)")
    p.add_argument("--record", action="store_true",
                   help="with --drawing (and --notebook): write the medians to docs/measured.json (default: "
                        "print them only)")
    p.add_argument("--live", action="store_true",
                   help="time the simple CNN's epoch with and without the --serve page "
                        "watching it train instead (default: off)")
    args = p.parse_args()
    if args.prediction_time:
        return print_prediction_times(args.networks)
    if args.drawing:
        try:
            if args.notebook:
                return print_side_by_side(args.networks, args.repeats, args.record)
            if args.static:
                return print_static_side_by_side(args.networks, args.repeats, args.record)
            return print_drawing_times(args.networks, args.repeats, args.record)
        except UserError as e:
            raise SystemExit(f"error: {e}")
    if args.live:
        return print_live_overhead(args.data_dir, args.repeats)
    if args.pen_digits:
        return print_pen_digit_costs(args.data_dir, args.repeats)
    try:
        device = pick_device(args.device)
        train_data, test_data = load_mnist(args.data_dir, device)
    except UserError as e:
        raise SystemExit(f"error: {e}")

    print(f"{cpu_line(device)}, {platform.node()}")
    modes = [False, True] if args.amp else [False]
    peak = {amp: matmul_gflops(device, torch.bfloat16 if amp else torch.float32) for amp in modes}
    for amp in modes:
        print(f"{'bf16' if amp else 'fp32'} matrix product: {peak[amp]:.0f} GFLOP/s", flush=True)
    rows = []
    found = networks.find()
    for name in args.networks:
        net = found[name].Net
        lecture, project = [], {amp: [] for amp in modes}
        for r in range(args.repeats):
            lecture.append(lecture_epoch(net, args.data_dir, device))
            for amp in modes:
                project[amp].append(project_epoch(net, train_data, test_data, device, amp))
            print(f"{name} repeat {r + 1}: lecture {lecture[-1]:.2f} s, project "
                  + ", ".join(f"{project[amp][-1]:.2f} s{' (--amp)' if amp else ''}"
                              for amp in modes), flush=True)
        gflop = epoch_gflop(net)
        for amp in modes:
            to_985 = to_990 = None
            if not args.no_time_to_accuracy:
                to_985, to_990 = time_to_accuracy(found[name], args.data_dir, args.device, amp)
                print(f"{name}{' --amp' if amp else ''} fast recipe: 98.5% after {fmt(to_985)}, "
                      f"99.0% after {fmt(to_990)}", flush=True)
            rows.append((name + (" --amp" if amp else ""), statistics.median(lecture),
                         statistics.median(project[amp]), gflop, gflop / peak[amp], to_985,
                         to_990))

    print(f"\n{'network':<29} {'lecture s/ep':>12} {'project s/ep':>12} {'ratio':>6} "
          f"{'GFLOP/ep':>9} {'floor s/ep':>10} {'fast->98.5%':>12} {'fast->99.0%':>12}")
    for name, lecture, project, gflop, floor, to_985, to_990 in rows:
        print(f"{name:<29} {lecture:>12.2f} {project:>12.2f} {project / lecture:>6.2f} "
              f"{gflop:>9.0f} {floor:>10.2f} {fmt(to_985):>12} {fmt(to_990):>12}")


def prediction_time(module, repeats: int = 50) -> tuple[float, float, float, float]:
    """Median milliseconds of one /api/predict answer: in the server, end to end, and end to
    end with where it looked (Captum's three attributions, as the page asks for them); and of
    one /api/tolerate answer sweeping the rotation (38 changed pictures), end to end."""
    import json
    import urllib.request

    body = drawn_seven()
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for localhost
    looked = json.dumps({**json.loads(body), "attribution": True}).encode()
    swept = json.dumps({**json.loads(body), "sliders": {"rotate": 15}, "sweep": "rotate"}).encode()
    inside, end_to_end, with_attribution, sweep = [], [], [], []
    with serving(module) as url:
        for _ in range(repeats + 5):  # the first few warm up
            for path, data, times in (("predict", body, end_to_end),
                                      ("predict", looked, with_attribution),
                                      ("tolerate", swept, sweep)):
                started = time.perf_counter()
                with direct.open(urllib.request.Request(f"{url}api/{path}", data=data)) as response:
                    answer = json.loads(response.read())
                times.append(1000 * (time.perf_counter() - started))
                if data is body:
                    inside.append(answer["milliseconds"])
    return tuple(statistics.median(t[5:]) for t in (inside, end_to_end, with_attribution, sweep))


@contextlib.contextmanager
def serving(module):
    """`module`'s untrained network served in this process, as --serve serves it: its URL."""
    import threading

    from pipeline import serve

    httpd = serve.make_server(module.Net(), module.__name__, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def cpu_line(device: torch.device | str = "CPU") -> str:
    """The torch version, the device, the threads and the processor, for a benchmark's header."""
    device = "CPU" if str(device) == "cpu" else device
    return (f"torch {torch.__version__}, {'' if device == 'CPU' else 'device '}{device}, "
            f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")


def print_prediction_times(names: list[str]) -> None:
    print(cpu_line())
    print(f"{'network':<24} {'in the server (ms)':>19} {'over HTTP (ms)':>15} "
          f"{'with attribution (ms)':>22} {'a slider swept (ms)':>20}")
    found = networks.find()
    for name in names:
        inside, end_to_end, looked, swept = prediction_time(found[name])
        print(f"{name:<24} {inside:>19.1f} {end_to_end:>15.1f} {looked:>22.1f} {swept:>20.1f}",
              flush=True)


def drawing_times(module, repeats: int, strokes=None) -> dict[str, list[float]]:
    """Seconds of each mouse move while a 7 (or `strokes`) is drawn on the pad of `module`'s
    --serve page in Chromium, `repeats` times each way, alternating: with the answers
    arriving, and with the page's requests refused (its pointer handling and one frame, no
    answer to draw); and the page's main-thread milliseconds for each answer it drew."""
    from playwright.sync_api import sync_playwright

    from tools import browser

    refuse = lambda route: route.fulfill(status=400, json={"error": "refused"})
    strokes = strokes or browser.SEVEN
    times = {"answers": [], "refused": [], "drawn": []}
    with serving(module) as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = browser.open_page(chromium, url)
        browser.draw(page, strokes)  # warms the page and the server
        browser.shown(page)
        for _ in range(repeats):
            times["answers"] += browser.draw(page, strokes)
            browser.shown(page)
            times["drawn"] += browser.drawing_times(page)  # since Clear
            page.route("**/api/*", refuse)
            times["refused"] += browser.draw(page, strokes)
            page.wait_for_timeout(200)
            page.unroute("**/api/*")
        chromium.close()
    return times


def side_by_side_times(module, repeats: int) -> dict[str, list[float]]:
    """Seconds of each mouse move while a 7 is drawn on the --serve page's pad and on the
    notebook's widget in JupyterLab (pipeline/notebook.py), one Chromium, alternating
    `repeats` times, each answer waited for; the answers each drew while a 7 was drawn, and
    each one's milliseconds drawing it."""
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tools import browser, jupyter

    times = {f"{place} {what}": [] for place in ("page", "widget") for what in ("move", "answers", "drawn")}
    with serving(module) as url, tempfile.TemporaryDirectory() as folder, \
            jupyter.lab(Path(folder)) as lab, sync_playwright() as p:
        chromium = browser.launch(p)
        notebook = jupyter.open_notebook(chromium, lab, jupyter.pad_notebook(Path(folder), module.__name__))
        jupyter.run_all(notebook, 300)
        places = {"page": (browser.open_page(chromium, url), None),
                  "widget": (notebook, jupyter.widgets(notebook).last)}
        for r in range(repeats + 1):  # the first of each warms it
            for name, (page, where) in places.items():
                page.bring_to_front()  # a tab behind the other gets fewer frames
                moves = browser.draw(page, browser.SEVEN, where=where)
                browser.read(page, where)
                drawn = browser.drawing_times(page, where)
                if r:
                    times[f"{name} move"] += moves
                    times[f"{name} answers"].append(len(drawn))
                    times[f"{name} drawn"] += drawn
        chromium.close()
    return times


def print_side_by_side(names: list[str], repeats: int, record: bool = False) -> None:
    """--drawing --notebook: the page's mouse moves and the widget's, side by side; `record`:
    the medians into docs/measured.json (the README's figures)."""
    repeats = max(repeats, 5)
    print(f"{cpu_line()}; {repeats} sevens on each, alternating; median, p90")
    print(f"{'network':<16} {'a move (ms): page':>18} {'widget':>16} {'answers a 7: page':>18} "
          f"{'widget':>7} {'drawing one (ms): page':>23} {'widget':>16}")
    found = networks.find()
    for name in names:
        t = side_by_side_times(found[name], repeats)
        print(f"{name:<16} {spread(t['page move']):>18} {spread(t['widget move']):>16} "
              f"{statistics.median(t['page answers']):>18} {statistics.median(t['widget answers']):>7} "
              f"{spread(t['page drawn'], 1):>23} {spread(t['widget drawn'], 1):>16}", flush=True)
        if record:
            from importlib.metadata import version

            from tools import measured
            measured.record("drawing in a notebook", name, {
                "page_move_ms": round(1000 * middle(t["page move"]), 1),
                "widget_move_ms": round(1000 * middle(t["widget move"]), 1),
                "page_answers": statistics.median(t["page answers"]),
                "widget_answers": statistics.median(t["widget answers"]),
                "sevens": repeats, "browser": "Chromium",
                "front end": f"JupyterLab {version('jupyterlab')}, ipykernel {version('ipykernel')}"})


@contextlib.contextmanager
def static_site(module):
    """`module`'s untrained network exported by --export-page into a folder served by the
    standard library's http.server: its URL."""
    import subprocess
    import sys
    import tempfile

    from pipeline import static

    with tempfile.TemporaryDirectory() as folder:
        static.export_page(module.Net(), module.__name__, folder, None)
        proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                 "--directory", folder, "0"], stdout=subprocess.PIPE, text=True)
        try:
            port = proc.stdout.readline().split(" port ")[1].split()[0]
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait()


def static_times(module, repeats: int) -> dict[str, list[float]]:
    """The --serve page and the --export-page site side by side in one Chromium, alternating
    `repeats` times: seconds from opening the page to its first answer (the pen digit it opens
    with, read), and each mouse move while a 7 is drawn, each answer waited for."""
    from playwright.sync_api import sync_playwright

    from tools import browser

    times = {f"{place} {what}": [] for place in ("page", "static") for what in ("open", "move")}
    with serving(module) as served, static_site(module) as site, sync_playwright() as p:
        chromium = browser.launch(p)
        for r in range(repeats + 1):  # the first of each warms it
            for name, url in (("page", served), ("static", site)):
                page = chromium.new_page(viewport={"width": 1200, "height": 1400})
                started = time.perf_counter()
                page.goto(url)
                page.wait_for_function("() => document.querySelector('.digit').textContent !== '–'")
                opened = time.perf_counter() - started
                moves = browser.draw(page, browser.SEVEN)
                browser.read(page)
                if r:
                    times[f"{name} open"].append(opened)
                    times[f"{name} move"] += moves
                page.close()
        chromium.close()
    return times


def print_static_side_by_side(names: list[str], repeats: int, record: bool = False) -> None:
    """--drawing --static: the server's page and the static site's, side by side; `record`:
    the medians into docs/measured.json."""
    repeats = max(repeats, 5)
    print(f"{cpu_line()}; {repeats} openings and sevens on each, alternating; median, p90 (ms)")
    print(f"{'network':<16} {'open to first answer: page':>27} {'static':>16} "
          f"{'a move: page':>16} {'static':>16}")
    found = networks.find()
    for name in names:
        t = static_times(found[name], repeats)
        print(f"{name:<16} {spread(t['page open']):>27} {spread(t['static open']):>16} "
              f"{spread(t['page move']):>16} {spread(t['static move']):>16}", flush=True)
        if record:
            from tools import measured
            measured.record("static page", name, {
                **{f"{k.replace(' ', '_')}_ms": round(1000 * middle(v), 1) for k, v in t.items()},
                "repeats": repeats, "browser": "Chromium"})


def print_drawing_times(names: list[str], repeats: int, record: bool = False) -> None:
    """--drawing: each network's mouse moves; `record`: the medians into docs/measured.json
    (the README's figure)."""
    repeats = max(repeats, 5)
    print(f"{cpu_line()}; {repeats} sevens each way")
    print(f"{'network':<24} {'a move, answers arriving (ms)':>30} {'a move, refused (ms)':>21} "
          f"{'drawing an answer (ms)':>23}")
    found = networks.find()
    for name in names:
        t = drawing_times(found[name], repeats)
        print(f"{name:<24} {spread(t['answers']):>30} {spread(t['refused']):>21} "
              f"{spread(t['drawn'], 1):>23}", flush=True)
        if record:
            from tools import measured
            measured.record("drawing", name, {
                "move_ms": round(1000 * middle(t["answers"]), 1),
                "refused_ms": round(1000 * middle(t["refused"]), 1),
                "sevens": repeats, "browser": "Chromium"})


def spread(times: list[float], scale: float = 1000) -> str:
    """'median, p90 q' of `times` in milliseconds."""
    if not times:
        return "none"
    times = sorted(scale * t for t in times)
    return f"{middle(times):.1f}, p90 {times[int(0.9 * len(times))]:.1f}"


def middle(times: list[float]) -> float:
    """The median as the tables print it: the upper middle one of an even count."""
    return sorted(times)[len(times) // 2]


def drawn_seven() -> bytes:
    """A 7 as the page's pad draws it: a 280 x 280 PNG, as a JSON body for /api/predict."""
    import base64
    import json

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(picture).line([(70, 60), (210, 60), (110, 260)], fill="black", width=18)
    png = io.BytesIO()
    picture.save(png, format="PNG")
    return json.dumps({"image": base64.b64encode(png.getvalue()).decode()}).encode()


# What one open page asks of the server while it trains, in its own process as a browser is
# (and as light: no torch): the events, and its drawing (a 7, read from stdin) again at every
# snapshot. It prints "connected", then, at the end, how many snapshots it got.
PAGE_CLIENT = """
import json, sys, urllib.request
url, body = sys.argv[1], sys.stdin.buffer.read()
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
snapshots = 0
with direct.open(url + "api/live") as stream:
    print("connected", flush=True)
    for line in stream:
        if line.startswith(b"data: "):
            kind = json.loads(line[6:])["type"]
            if kind == "snapshot":
                snapshots += 1
                direct.open(urllib.request.Request(url + "api/predict", body)).read()
            if kind in ("end", "stopped"):
                break
print(snapshots, flush=True)
"""


def live_epoch(module, settings, device: torch.device, how: str) -> tuple[float, float, int]:
    """One epoch of `module`'s network as its script trains it, in this process: its
    seconds (training and the test pass, as the script's s/epoch), the seconds the run spent
    between batches on the page (snapshots, events), and the snapshots the page got.
    `how`: "plain", "served" (--serve, no page open) or "watched" (one page open)."""
    from pipeline import run

    torch.manual_seed(settings.seed)
    model = prepare_model(module.Net(), device)
    client = None
    with contextlib.redirect_stdout(io.StringIO()):  # the run and its page, as a script's
        training, server = run.watched(
            module.__name__, model, device,
            dataclasses.replace(settings, serve=how != "plain", port=0), None)
    if how == "watched":
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        client = subprocess.Popen([sys.executable, "-c", PAGE_CLIENT, url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        client.stdin.write(drawn_seven())
        client.stdin.close()
        assert client.stdout.readline() == b"connected\n"
    with contextlib.redirect_stdout(io.StringIO()):
        run.train(training, server)
    snapshots = int(client.stdout.read()) if client else 0
    if client:
        client.wait(60)
    if server is not None:
        server.close()
    spent = server.page.live.spent if server else 0.0
    return training.progress.metrics[-1]["seconds"], spent, snapshots


def print_live_overhead(data_dir: str, repeats: int) -> None:
    """--live: the three ways, alternating in this process, `repeats` times."""
    from pipeline.flags import settings_of

    module = networks.load("simple_cnn")
    settings, _ = settings_of(module.Net, module.FAST, module.DEFAULT_RECIPE, None,
                              ["--epochs", "1", "--data-dir", data_dir, "--device", "cpu"])
    device = torch.device("cpu")
    print(f"{cpu_line()}, {platform.node()}; simple_cnn.py --epochs 1 (the lecture's settings), "
          f"in one process")
    ways = ("plain", "served", "watched")
    times: dict[str, list[float]] = {how: [] for how in ways}
    spent: dict[str, list[float]] = {how: [] for how in ways}
    for r in range(repeats):
        got = 0
        for how in ways if r % 2 == 0 else ways[::-1]:  # neither goes first every time
            seconds, between, snapshots = live_epoch(module, settings, device, how)
            times[how].append(seconds)
            spent[how].append(between)
            got = snapshots or got
        print(f"repeat {r + 1}: " + ", ".join(f"{how} {times[how][-1]:.2f} s" for how in ways)
              + f" ({got} snapshots sent to the page, {1000 * spent['watched'][-1]:.0f} ms "
                f"of the run spent on them)", flush=True)
    plain = statistics.median(times["plain"])
    print(f"\n{'':<28} {'s/epoch':>8} {'overhead':>9} {'paired difference':>22} "
          f"{'on the page (ms/epoch)':>23}")
    for how, words in zip(ways, ("plain", "--serve, no page open", "--serve, one page open")):
        median = statistics.median(times[how])
        differences = [100 * (t / p - 1) for t, p in zip(times[how], times["plain"])]
        paired = f"{statistics.mean(differences):+.1f}% ± {statistics.stdev(differences):.1f}" \
            if how != "plain" and repeats > 1 else ""
        print(f"{words:<28} {median:>8.2f} {100 * (median / plain - 1):>8.1f}% {paired:>22} "
              f"{1000 * statistics.median(spent[how]):>23.0f}")


def handwriting_epoch(data_dir: str, pen_digits: str) -> float:
    """The simple CNN's --recipe handwriting for one epoch, as its script runs it: its s/epoch."""
    out = subprocess.run([sys.executable, str(ROOT / "simple_cnn.py"), "--data-dir", data_dir,
                          "--recipe", "handwriting", "--epochs", "1", "--pen-digits", pen_digits,
                          "--log-interval", "1000"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"simple_cnn.py: {out.stderr.strip()}")
    return float(re.search(r"\(([\d.]+) s/epoch\)", out.stdout).group(1))


def print_pen_digit_costs(data_dir: str, repeats: int) -> None:
    """What the pen digits cost an epoch of training and the page's pad, beside what was there."""
    from pipeline import pens
    from tools import browser, handwriting

    print(f"{cpu_line()}; {repeats} repeats, alternating")
    epochs = {"none": [], "all": []}
    for r in range(repeats):
        for chosen in epochs:
            epochs[chosen].append(handwriting_epoch(data_dir, chosen))
        print(f"repeat {r + 1}: --pen-digits none {epochs['none'][-1]:.2f} s/epoch, all "
              f"{epochs['all'][-1]:.2f} s/epoch", flush=True)
    digits = pens.load()
    ready, drawing, images = {}, {}, {}
    for styled in (False, True):  # as written, then with their styles and the extra ones
        started = time.perf_counter()
        pictures = pens.PenPictures.of(digits, torch.device("cpu"), styled)
        ready[styled], drawing[styled] = time.perf_counter() - started, []
        images[styled] = pictures.per_epoch
        for r in range(max(repeats, 3)):
            chance = torch.Generator().manual_seed(r)
            started = time.perf_counter()
            pictures.epoch(chance)
            drawing[styled].append(time.perf_counter() - started)
    none, every = statistics.median(epochs["none"]), statistics.median(epochs["all"])
    print(f"simple_cnn.py --recipe handwriting, one epoch: {none:.2f} s without the pen "
          f"digits, {every:.2f} s with all {len(digits):,} and their styles ({every - none:+.2f}"
          f" s, {100 * (every / none - 1):+.0f}%; {60_000 + images[True]:,} images instead of "
          f"60,000)")
    for styled, words in ((False, "as written"), (True, "with their styles (pipeline/styles.py)")):
        print(f"the pen digits {words}: made ready once per run {ready[styled]:.2f} s; drawn "
              f"for an epoch ({images[styled]:,} pictures) median "
              f"{statistics.median(drawing[styled]):.2f} s of {len(drawing[styled])}")
    module = networks.find()["simple_cnn"]
    pen = handwriting.pen_path(digits[0])
    print(f"{'drawn on the pad (simple_cnn)':<34} {'a move, answers arriving (ms)':>30} "
          f"{'a move, refused (ms)':>21}")
    for what, strokes in (("a 7, as before", browser.SEVEN),
                          (f"a pen digit ({digits[0].label}, {digits[0].source})", pen)):
        t = drawing_times(module, max(repeats, 5), strokes)
        print(f"{what:<34} {spread(t['answers']):>30} {spread(t['refused']):>21}", flush=True)


def fmt(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.1f} s"


if __name__ == "__main__":
    main()
