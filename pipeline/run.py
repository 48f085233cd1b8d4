"""What a command line asks of a network: its summary, predictions, a test pass, or training."""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import common

from . import (attribute, board, checkpoints, distributed, explain, export, networks, report,
               serve, static, styles)
from . import data
from .data import Step, load_digit
from .device import device_forward, make_deterministic, pick_device, prepare_model
from .errors import UserError
from .settings import Settings
from .shapes import check_shapes
from .training import Training


def network_name(net_factory: Callable[[], nn.Module]) -> str:
    """The script that defines the network: simple_cnn, inception_cnn, ..."""
    return Path(inspect.getfile(net_factory)).stem


def run(net_factory: Callable[[], nn.Module], settings: Settings,
        resumed: dict | None = None) -> None:
    """Do what the settings ask; a problem with the user's input is raised as a UserError.

    `resumed`: the checkpoint that --resume names, already read."""
    network = network_name(net_factory)
    if settings.summary:
        net = net_factory()
        check_shapes(net, network)
        print(report.summary(net))
        return
    if settings.deterministic:
        make_deterministic()
    device = pick_device(settings.device)
    distributed.setup(device)
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    model = prepare_model(net_factory(), device)
    check_shapes(model, network)  # a layer that does not fit, before any data is loaded
    steps: list[Step] = []  # --explain's picture and how it was prepared (a bad file: said now)
    picture = (load_digit(settings.explain, steps), steps) if settings.explain else None
    if distributed.world_size() > 1:
        # each rank its own augmentation (seeds wrap around at 2**64, as torch's do)
        torch.manual_seed((settings.seed + distributed.rank()) % 2**64)
    if settings.load and use_loaded(model, network, device, settings, picture):
        return
    training, server = watched(network, model, device, settings, resumed)
    train(training, server)
    if settings.export_page and distributed.is_main():
        static.export_page(model, network, settings.export_page, settings.onnxruntime,
                           settings.pen_digits)
    if distributed.is_main():
        look_inside(model, network, settings, picture, own_plot=True, server=server)


def watched(network: str, model: nn.Module, device: torch.device, settings: Settings,
            resumed: dict | None) -> tuple[Training, serve.Server | None]:
    """The run and what watches it (rank 0): with --serve the page, whose server it returns,
    told first (its end is the trained network's page); with --tensorboard TensorBoard."""
    watchers, server = [], None
    if settings.serve and distributed.is_main():
        server = open_page(model, network, settings, training=True)
        watchers.append(server.page.live)
    if settings.tensorboard and distributed.is_main():
        watchers.append(board.Board(settings.tensorboard, resumed is not None))
    return Training(network, model, device, settings, resumed, tuple(watchers)), server


def train(training: Training, server: serve.Server | None) -> None:
    """The run; the page (a watcher, which turns into the trained network's page at its
    end, or says the line of what stopped the run) closes with a run that stops."""
    try:
        training.run()
    except BaseException:
        if server is not None:
            server.close()
        raise


def use_loaded(model: nn.Module, network: str, device: torch.device, settings: Settings,
               picture: tuple[torch.Tensor, list[Step]] | None) -> bool:
    """--load's weights into `model`, then what is asked of them; True if that was all."""
    loaded = checkpoints.load_weights(model, settings.load, network)
    if settings.predict:
        predict(model, settings.predict, device)
    if settings.evaluate:
        evaluate_loaded(model, device, settings, loaded["metrics"] if loaded else [],
                        f"{network}: {settings.load}")
    if settings.export_onnx and distributed.is_main():
        test_data = data.load_mnist(settings.data_dir, device)[1]
        export.export_onnx(model, settings.export_onnx, test_data, settings.test_batch_size)
    if settings.export_page and distributed.is_main():
        static.export_page(model, network, settings.export_page, settings.onnxruntime,
                           loaded["args"].get("pen_digits", "none") if loaded else None)
    if not (settings.predict or settings.evaluate or settings.export_onnx or settings.explain
            or settings.serve or settings.export_page):
        return False  # --load alone: train from these weights
    if distributed.is_main():  # a checkpoint says what trained it; a weights file does not
        trained_with = loaded["args"].get("pen_digits", "none") if loaded else None
        look_inside(model, network, settings, picture, own_plot=settings.evaluate,
                    pen_digits=trained_with)
    return True


def look_inside(model: nn.Module, network: str, settings: Settings,
                picture: tuple[torch.Tensor, list[Step]] | None, own_plot: bool,
                server: serve.Server | None = None, pen_digits: str | None = None) -> None:
    """--explain one picture (drawn to --plot, or beside it if the run drew its own plot
    there, with the steps that prepared it), then --serve the page (the one that watched it
    train, if given) until Ctrl-C; `pen_digits`: what the loaded weights were trained with,
    None where their file does not say."""
    if settings.explain:
        explainer = explain.Explainer(model)
        e = explainer(picture[0])
        print(explain.describe(settings.explain, e))
        if settings.plot:
            stem, ext = os.path.splitext(settings.plot)
            path = f"{stem}-explain{ext}" if own_plot else settings.plot
            looked = attribute.attribute(model, picture[0], e.digit, explainer.lock)
            explain.plot(path, e, f"{network}: {settings.explain}", picture[1], looked)
            print(f"layers drawn to {path}")
    if settings.serve:
        (server or open_page(model, network, settings, pen_digits=pen_digits)).wait()


def open_page(model: nn.Module, network: str, settings: Settings, training: bool = False,
              pen_digits: str | None = None) -> serve.Server:
    """--serve's page for `model`, with --compare's network beside it; the page's hint
    follows what trained it (this run's --pen-digits while it trains)."""
    return serve.start(model, network, settings.host, settings.port, training,
                       compared(*settings.compare) if settings.compare else None,
                       settings.pen_digits if training else pen_digits)


def compared(script: str, weights: str) -> tuple[str, nn.Module]:
    """--compare SCRIPT WEIGHTS: that script's Net with those weights, and its label."""
    name = Path(script).stem if script.endswith(".py") else script
    if name not in networks.names():
        raise UserError(f"--compare {script}: no such network script; the scripts are "
                        f"{', '.join(networks.names())}")
    model = networks.load(name).Net()
    checkpoints.load_weights(model, weights, name)
    return f"{name} ({Path(weights).name})", model


def predict(model: nn.Module, paths: list[str], device: torch.device) -> None:
    """One line per picture: its path, the digit, and the network's confidence; where it is
    torn between two digits (styles.torn), the second too: "7 (62.0%) — or a 1 as written in
    much of Europe (38.0%)"."""
    images = torch.stack([load_digit(path) for path in paths]).to(device)  # N x 1 x 28 x 28
    model.eval()
    with torch.inference_mode():
        probabilities = model(images).float().exp()
    confidence, digit = probabilities.max(dim=1)
    for path, d, c, p in zip(paths, digit.tolist(), confidence.tolist(), probabilities.tolist()):
        torn = styles.torn(p)
        also = f"{torn['text'][len(str(d)):]} ({100.0 * p[torn['digit']]:.1f}%)" if torn else ""
        print(f"{path}: {d} ({100.0 * c:.1f}%){also}")


def evaluate_loaded(model: nn.Module, device: torch.device, settings: Settings,
                    history: list[dict[str, float]], title: str) -> None:
    """The test line for loaded weights, and the plot if asked (with the file's own history)."""
    test_data = data.load_mnist(settings.data_dir, device)[1]
    common.test(device_forward(model, device, settings.amp), test_data, settings.test_batch_size)
    if settings.plot and distributed.is_main():
        report.plot(settings.plot, history, model, test_data,
                    report.predictions(model, test_data, settings.test_batch_size), title)
