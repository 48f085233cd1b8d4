"""What a command line asks of a network: its summary, predictions, a test pass, or training."""
from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import checkpoints, distributed, explain, export, report, serve
from .data import load_digit, load_mnist
from .device import make_deterministic, pick_device, prepare_model
from .loop import evaluate, print_test
from .shapes import check_shapes
from .training import Training, plot_test


def network_name(net_factory: Callable[[], nn.Module]) -> str:
    """The script that defines the network: simple_cnn, inception_cnn, ..."""
    return Path(inspect.getfile(net_factory)).stem


def run(net_factory: Callable[[], nn.Module], args: argparse.Namespace) -> None:
    """Do what `args` ask; a problem with the user's input is raised as a UserError."""
    network = network_name(net_factory)
    if args.summary:
        net = net_factory()
        check_shapes(net, network)
        print(report.summary(net))
        return
    if args.deterministic:
        make_deterministic()
    device = pick_device(args.device)
    distributed.setup(device)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = prepare_model(net_factory(), device)
    check_shapes(model, network)  # a layer that does not fit, before any data is loaded
    picture = load_digit(args.explain) if args.explain else None  # a bad file: said now
    if distributed.world_size() > 1:
        # each rank its own augmentation (seeds wrap around at 2**64, as torch's do)
        torch.manual_seed((args.seed + distributed.rank()) % 2**64)
    if args.load:
        loaded = checkpoints.load_weights(model, args.load, network)
        if args.predict:
            predict(model, args.predict, device)
        if args.evaluate:
            evaluate_loaded(model, device, args, loaded["metrics"] if loaded else [],
                            f"{network}: {args.load}")
        if args.export_onnx and distributed.is_main():
            test_data = load_mnist(args.data_dir, device)[1]
            export.export_onnx(model, args.export_onnx, test_data, args.test_batch_size)
        if args.predict or args.evaluate or args.export_onnx or args.explain or args.serve:
            if distributed.is_main():
                look_inside(model, network, args, picture, own_plot=args.evaluate)
            return
    Training(network, model, device, args).run()
    if distributed.is_main():
        look_inside(model, network, args, picture, own_plot=True)


def look_inside(model: nn.Module, network: str, args: argparse.Namespace,
                picture: torch.Tensor | None, own_plot: bool) -> None:
    """--explain one picture (drawn to --plot, or beside it if the run drew its own plot
    there), then --serve the page."""
    if args.explain:
        e = explain.Explainer(model)(picture)
        print(explain.describe(args.explain, e))
        if args.plot:
            stem, ext = os.path.splitext(args.plot)
            path = f"{stem}-explain{ext}" if own_plot else args.plot
            explain.plot(path, e, f"{network}: {args.explain}")
            print(f"layers drawn to {path}")
    if args.serve:
        serve.serve(model, network, args.host, args.port)


def predict(model: nn.Module, paths: list[str], device: torch.device) -> None:
    """One line per picture: its path, the digit, and the network's confidence."""
    images = torch.stack([load_digit(path) for path in paths]).to(device)  # N x 1 x 28 x 28
    model.eval()
    with torch.inference_mode():
        probabilities = model(images).float().exp()
    confidence, digit = probabilities.max(dim=1)
    for path, d, c in zip(paths, digit.tolist(), confidence.tolist()):
        print(f"{path}: {d} ({100.0 * c:.1f}%)")


def evaluate_loaded(model: nn.Module, device: torch.device, args: argparse.Namespace,
                    history: list[dict[str, float]], title: str) -> None:
    """The test line for loaded weights, and the plot if asked (with the file's own history)."""
    test_data = load_mnist(args.data_dir, device)[1]
    loss, correct, _ = evaluate(model, test_data, args.test_batch_size, amp=args.amp,
                                sharded=distributed.active())
    print_test(loss, correct, len(test_data))
    if args.plot and distributed.is_main():
        plot_test(model, test_data, args, history, title)
