"""--explain IMAGE: one picture through the network, layer by layer, as text and as a figure.

The activations come from forward hooks on the network's own modules (its top-level layers in
forward order, with a Sequential such as DenseNet's `features` opened one level), and the
vector that reaches the classifier from a hook on the classifier itself: nothing here
re-implements a network. One picture at a time, under a lock, so that two callers (the
web page's requests) never see each other's activations.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import nn

from .probe import probe
from .report import classifier, classifier_line

MAPS_SHOWN = 16  # feature maps drawn per layer: the most active ones


@dataclass
class Stage:
    name: str  # the module's name in the state_dict: conv1, incept1, features.denseblock1
    module: nn.Module
    output: torch.Tensor  # this picture's output: C x H x W, or F for a vector (CPU, float)


@dataclass
class Explanation:
    image: torch.Tensor  # 1 x 28 x 28, prepared and normalised as the network saw it
    stages: list[Stage]  # in the order forward ran them; a module used twice appears twice
    flattened: torch.Tensor  # what reached the classifier: 320 for the simple CNN
    classifier: str  # its name (fc)
    linear: nn.Linear  # the classifier itself
    probabilities: torch.Tensor  # 10

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The top-level layers, a Sequential opened one level (DenseNet's features.*)."""
    found = []
    for name, module in model.named_children():
        if isinstance(module, nn.Sequential):
            found += [(f"{name}.{child}", sub) for child, sub in module.named_children()]
        else:
            found.append((name, module))
    return found


def hooked(model: nn.Module, classifier: nn.Module, on_layer, on_flattened) -> list:
    """Hooks on `model`'s layers (layers()) and on its classifier's input: each layer's output
    to `on_layer(name, module, output)` as forward runs them, what reaches the classifier to
    `on_flattened(x)`. The caller removes them."""
    hooks = [module.register_forward_hook(
        lambda m, inputs, output, name=name: on_layer(name, m, output))
        for name, module in layers(model)]
    hooks.append(classifier.register_forward_pre_hook(lambda m, inputs: on_flattened(inputs[0])))
    return hooks


class Explainer:
    """A network in eval mode that explains one picture at a time."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.lock = threading.Lock()
        self.classifier_name, self.classifier = classifier(model)

    def __call__(self, image: torch.Tensor) -> Explanation:
        seen: list[Stage] = []
        flattened: list[torch.Tensor] = []

        def record(name: str, module: nn.Module, output) -> None:
            if isinstance(output, torch.Tensor):  # a layer's output: this picture's, 1 x ...
                seen.append(Stage(name, module, output[0].detach().float().cpu()))

        # The hooks live on the shared modules: one caller at a time, from registering them
        # to removing them, or two callers would each record the other's activations.
        with self.lock:
            hooks = hooked(self.model, self.classifier, record,
                           lambda x: flattened.append(x[0].detach().float().cpu()))
            output = probe(self.model, hooks, image)
        probabilities = output[0].float().exp().cpu()
        return Explanation(image.cpu(), seen, flattened[-1], self.classifier_name,
                           self.classifier, probabilities)


def shape(t: torch.Tensor) -> str:
    return " x ".join(str(n) for n in t.shape)


def describe(path: str, e: Explanation) -> str:
    """The prediction, then each layer's output shape, the flatten size on its own line."""
    lines = [f"{path}: {e.digit} ({100.0 * float(e.probabilities.max()):.1f}%)",
             f"  {'input':<24} {shape(e.image)}"]
    for stage in e.stages:
        if stage.module is e.linear:
            lines.append(f"  {'flatten':<24} {e.flattened.numel()}  "
                         f"(into {classifier_line(e.classifier, e.linear)})")
        lines.append(f"  {stage.name:<24} {shape(stage.output)}")
    return "\n".join(lines)


def most_active(output: torch.Tensor, count: int = MAPS_SHOWN) -> list[int]:
    """The channels with the largest mean activation, strongest first."""
    strength = output.flatten(1).mean(dim=1)
    return strength.argsort(descending=True)[:count].tolist()


def plot(path: str, e: Explanation, title: str, steps: list | None = None,
         looked: dict | None = None) -> None:
    """The steps that prepared the picture (data.Step: each's picture and numbers), the
    input, each layer's most active feature maps, the flattened vector and the ten
    probabilities, each panel titled with the layer's name and shape, in forward order; then
    where it looked (`looked`: attribute.attribute's maps for the digit it read)."""
    from . import report

    plt = report.pyplot()
    steps = steps[:-1] if steps else []  # the last step's picture is the input
    looked = looked or {}
    panels = len(steps) + 1 + len(e.stages) + 1 + len(looked)  # the classifier's: probabilities
    columns = 4
    rows = -(-panels // columns)
    fig = plt.figure(figsize=(3.6 * columns, 3.4 * rows), layout="constrained")
    fig.suptitle(title, fontsize=14)
    cells = iter(fig.subfigures(rows, columns, squeeze=False).flatten())
    for k, step in enumerate(steps):
        draw_step(next(cells), f"{k + 1}. {step.name}", step)
    draw_maps(next(cells), f"{len(steps) + 1}. normalised, the input: " + shape(e.image)
              if steps else "input: " + shape(e.image), e.image, [0])
    for stage in e.stages:
        draw_stage(next(cells), e, stage)
    draw_probabilities(next(cells), e)
    for method, found in looked.items():
        draw_looked(next(cells), f"where it looked for a {e.digit}: {method.replace('_', ' ')}",
                    e.image[0], found["map"])
    for cell in cells:
        cell.set_facecolor("none")
    report.save_figure(fig, path, dpi=80)


def draw_stage(cell, e: Explanation, stage) -> None:
    """One layer's panel: its most active maps, or its output as a vector; before the
    classifier, the flattened vector the lecture's 320 is about."""
    if stage.module is e.linear:
        draw_vector(cell, f"flatten: {e.flattened.numel()} -> {e.classifier}", e.flattened)
        return
    out = stage.output
    if out.dim() == 3 and out.shape[1] * out.shape[2] > 1:
        draw_maps(cell, f"{stage.name}: {shape(out)}", out, most_active(out))
    else:
        draw_vector(cell, f"{stage.name}: {shape(out)}", out.flatten())


def draw_probabilities(cell, e: Explanation) -> None:
    ax = cell.subplots()
    ax.bar(range(10), e.probabilities.numpy(), color="tab:blue")
    ax.bar([e.digit], [float(e.probabilities.max())], color="tab:red")
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set_title(f"{e.classifier} -> probabilities: {e.digit} "
                 f"({100 * float(e.probabilities.max()):.1f}%)", fontsize=11)


def draw_maps(fig, title: str, output: torch.Tensor, channels: list[int]) -> None:
    """A grid of feature maps (channels of a C x H x W output), each on its own scale, the
    channel's number above it, and one colour bar saying what the colours mean."""
    side = max(1, int(len(channels) ** 0.5 + 0.999))
    shown = f"\n{len(channels)} of {output.shape[0]} channels, most active" \
        if len(channels) < len(output) else ""
    fig.suptitle(title + shown, fontsize=11)
    axes = fig.subplots(side, side, squeeze=False).flatten()
    for ax in axes:
        ax.axis("off")
    for ax, c in zip(axes, channels):
        image = ax.imshow(output[c].numpy(), cmap="viridis")
        if len(channels) > 1:
            ax.set_title(str(c), fontsize=8, pad=1)
    bar = fig.colorbar(image, ax=list(axes), shrink=0.8, ticks=[])
    bar.set_label("low  ->  high (each map on its own scale)", fontsize=8)


def layer_maps(e: Explanation, height: float = 3.4):
    """A figure of each layer's maps (the C x H x W outputs), side by side: the notebook's."""
    import matplotlib.pyplot as plt

    maps = [s for s in e.stages if s.output.dim() == 3]
    fig = plt.figure(figsize=(3.2 * len(maps), height), layout="constrained")
    for cell, stage in zip(fig.subfigures(1, len(maps)), maps):
        draw_maps(cell, f"{stage.name}: {shape(stage.output)}", stage.output,
                  most_active(stage.output))
    return fig


def draw_step(fig, title: str, step) -> None:
    """One step of preparing the picture, in grey, with its numbers below."""
    import textwrap

    fig.suptitle(title, fontsize=11)
    ax = fig.subplots()
    ax.imshow(step.picture, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(textwrap.fill(step.note, 40), fontsize=8)


def draw_looked(fig, title: str, image: torch.Tensor, attribution: torch.Tensor) -> None:
    """An attribution over the input: the digit in grey, red raises the score, blue lowers it."""
    fig.suptitle(title, fontsize=11)
    ax = fig.subplots()
    ax.imshow(image.numpy(), cmap="gray", alpha=0.5)
    limit = float(attribution.abs().max()) or 1.0
    shown = ax.imshow(attribution.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(shown, ax=ax, shrink=0.8, ticks=[-limit, 0, limit])
    bar.ax.set_yticklabels(["lowers", "0", "raises"], fontsize=8)
    ax.set_xlabel("red: raises the digit's score; blue: lowers it", fontsize=8)


def draw_vector(fig, title: str, vector: torch.Tensor) -> None:
    """A vector (the flattened features, a pooled stage) as a strip of values."""
    fig.suptitle(title, fontsize=11)
    ax = fig.subplots()
    width = int(len(vector) ** 0.5 * 2) or 1
    padded = torch.full((-(-len(vector) // width) * width,), float("nan"))
    padded[:len(vector)] = vector
    ax.imshow(padded.reshape(-1, width).numpy(), cmap="viridis", aspect="auto")
    ax.set_yticks([])
    ax.set_xticks([])
