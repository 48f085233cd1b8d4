"""What a person looks at after a run: the metrics CSV, the plot, the layer summary."""
from __future__ import annotations

import csv
import io
import os
import re

import torch
from torch import nn

from common import Split, denormalise

from . import files
from .probe import probe

METRIC_FIELDS = ("epoch", "train_loss", "test_loss", "test_accuracy", "seconds", "lr")


def write_metrics(path: str, rows: list[dict[str, float]]) -> None:
    """One row per test pass; the whole file is rewritten (atomically) after every one."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in METRIC_FIELDS})
    files.write_bytes(path, buffer.getvalue().encode())


def classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The layer that maps the flattened features to the ten digits (`fc`): the last Linear."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


def classifier_line(name: str, fc: nn.Linear) -> str:
    """How the lecture writes the classifier: fc = Linear(320, 10)."""
    return f"{name} = Linear({fc.in_features}, {fc.out_features})"


def flatten_size(model: nn.Module) -> int:
    """Run one 1 x 28 x 28 image and measure what reaches the classifier."""
    seen = []
    hook = classifier(model)[1].register_forward_pre_hook(
        lambda m, inputs: seen.append(inputs[0][0].numel()))
    probe(model, [hook])
    return seen[0]


def predictions(model: nn.Module, data: Split, batch_size: int) -> torch.Tensor:
    """The digit the network reads in each image of `data`, on the CPU."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(data.images[i:i + batch_size]).argmax(dim=1)
                          for i in range(0, len(data), batch_size)]).cpu()


MACS_UNITS = {"NONE": "count", "KILOBYTES": "thousands", "MEGABYTES": "millions",
              "GIGABYTES": "billions", "TERABYTES": "trillions"}


def summary(model: nn.Module) -> str:
    """Each layer's output shape and parameters for one 1 x 28 x 28 image (torchinfo)."""
    import torchinfo

    model.eval()  # one image through the test-time network (no auxiliary head, BN as used)
    table = torchinfo.summary(model, input_size=(1, 1, 28, 28), depth=4, verbose=0,
                              col_names=("output_size", "num_params"),
                              row_settings=("var_names",), device="cpu")
    # torchinfo names its unit by the enum's repr on this Python ("Units.MEGABYTES"): the
    # count is in millions of multiply-adds
    table = re.sub(r"mult-adds \(Units\.(\w+)\)", lambda m: "mult-adds (" + MACS_UNITS.get(
        m.group(1), m.group(1).lower()) + ")", str(table))
    name, fc = classifier(model)
    return (f"{table}\nFlatten size into {name}: {flatten_size(model)} "
            f"(so {classifier_line(name, fc)})")


def plot(path: str, metrics: list[dict[str, float]], model: nn.Module, test: Split,
         predictions: torch.Tensor, title: str) -> None:
    """Curves, confusion matrix, mistakes and first-layer filters in one PNG."""
    fig = pyplot().figure(figsize=(15, 9.5), layout="constrained")
    fig.suptitle(title, fontsize=14)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.05])
    ax_loss, ax_acc, ax_cm = top.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
    plot_curves(ax_loss, ax_acc, metrics)
    labels = test.labels.cpu()
    plot_confusion(ax_cm, labels, predictions)
    mistakes_fig, filters_fig = bottom.subfigures(1, 2, width_ratios=[1.5, 1])
    plot_mistakes(mistakes_fig, test.images.cpu(), labels, predictions)
    plot_filters(filters_fig, model)
    save_figure(fig, path, dpi=90)


def pyplot():
    """matplotlib.pyplot, drawing to files only (no window, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str, dpi: int) -> None:
    """The figure in the format its file name asks for, written whole (files.write_bytes)."""
    image = io.BytesIO()
    fig.savefig(image, dpi=dpi, format=plot_format(path))
    pyplot().close(fig)
    files.write_bytes(path, image.getvalue())


def plot_format(path: str) -> str:
    """The picture format the file name asks for; PNG when it names none."""
    return os.path.splitext(path)[1][1:].lower() or "png"


def plot_formats() -> set[str]:
    """Every format matplotlib can write here (png, pdf, svg, jpg, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    return set(FigureCanvasAgg.get_supported_filetypes())


def plot_curves(ax_loss, ax_acc, metrics: list[dict[str, float]]) -> None:
    epochs = [row["epoch"] for row in metrics]
    if metrics:
        ax_loss.plot(epochs, [r["train_loss"] for r in metrics], "o-", label="train")
        ax_loss.plot(epochs, [r["test_loss"] for r in metrics], "s-", label="test")
        ax_loss.legend()
        ax_acc.plot(epochs, [r["test_accuracy"] for r in metrics], "o-", color="tab:green")
        best = max(metrics, key=lambda r: r["test_accuracy"])
        ax_acc.annotate(f"best {best['test_accuracy']:.2f}%", (best["epoch"], best["test_accuracy"]),
                        textcoords="offset points", xytext=(0, -18), ha="center")
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no training history\nin this file", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    ax_loss.set_title("loss")
    ax_acc.set_title("test accuracy (%)")


def plot_confusion(ax, labels: torch.Tensor, predictions: torch.Tensor) -> None:
    confusion = torch.zeros(10, 10, dtype=torch.long)
    confusion.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    shade = confusion.float().log1p()
    ax.imshow(shade.numpy(), cmap="Blues")
    for t in range(10):
        for p in range(10):
            count = int(confusion[t, p])
            if count:  # white on the dark cells, black on the light ones
                ax.text(p, t, str(count), ha="center", va="center", fontsize=7,
                        color="white" if shade[t, p] > shade.max() / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    correct = int((predictions == labels).sum())
    ax.set_title(f"confusion matrix: {correct}/{len(labels)} correct")


def plot_mistakes(fig, images: torch.Tensor, labels: torch.Tensor,
                  predictions: torch.Tensor) -> None:
    wrong = (predictions != labels).nonzero().flatten()[:24]
    fig.suptitle(f"test digits it gets wrong ({int((predictions != labels).sum())} in all; "
                 f"true -> predicted)")
    axes = fig.subplots(3, 8).flatten()
    for ax, i in zip(axes, wrong.tolist() + [None] * len(axes)):
        ax.axis("off")
        if i is not None:
            ax.imshow(denormalise(images[i, 0]).numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{int(labels[i])} -> {int(predictions[i])}", fontsize=9, color="tab:red")


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The network's first convolution and its name: the one whose filters are drawn."""
    return next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))


def plot_filters(fig, model: nn.Module) -> None:
    conv = first_conv(model)[1]
    weights = conv.weight.detach().float().cpu()[:, 0]  # out x kH x kW, first input channel
    count = min(len(weights), 32)
    columns = 5 if count <= 10 else 8
    rows = -(-count // columns)
    fig.suptitle(f"first convolution's filters ({count} of {len(weights)}, "
                 f"{weights.shape[1]}x{weights.shape[2]})")
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes:
        ax.axis("off")
    for ax, w in zip(axes, weights[:count]):
        limit = float(w.abs().max()) or 1.0
        ax.imshow(w.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
