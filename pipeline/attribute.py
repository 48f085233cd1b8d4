"""Where the network looked: Captum's attributions of one digit's output to the input.

For one prepared 1 x 28 x 28 picture and one digit (the predicted one, or any other), three of
Captum's methods, each a 28 x 28 map over the input pixels, of the digit's score: the
classifier's output (fc's, in the simple CNN) before the softmax, which does not saturate near
100% as the probability and its log do. Saliency (the gradient's size: the pixels whose change would move it most), Integrated
Gradients (the gradient summed along the way from a blank picture to this one: each pixel's
share of the difference), and occlusion (how much it falls when a 4 x 4 patch is blanked).
Blank is MNIST's background, 0 before normalisation. Nothing here re-implements Captum.
"""
from __future__ import annotations

import threading
import time

import torch
from torch import nn

from common import normalise

from .probe import evaluating
from .report import classifier

METHODS = ("saliency", "integrated_gradients", "occlusion")
IG_STEPS = 32  # Integrated Gradients' steps from the blank picture
PATCH, STRIDE = 4, 2  # occlusion's window and stride, in pixels

def attribute(model: nn.Module, image: torch.Tensor, target: int, lock: threading.Lock,
              methods: tuple[str, ...] = METHODS) -> dict[str, dict]:
    """method -> {"map": 28 x 28 attributions (CPU), "milliseconds"}, for `target`'s score;
    `image` is 1 x 28 x 28 as the network reads it. `lock` is held throughout: the network's
    mode and hooks are shared with the other requests (explain.Explainer's lock)."""
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    fc = classifier(model)[1]

    def output(x: torch.Tensor) -> torch.Tensor:  # N x 10 scores: the classifier's output
        scores = []
        hook = fc.register_forward_hook(lambda module, inputs, out: scores.append(out))
        try:
            model(x)
        finally:
            hook.remove()
        return scores[-1].float()

    device = next(model.parameters()).device
    x = image[None].to(device)  # 1 x 1 x 28 x 28
    blank = torch.full_like(x, float(normalise(torch.zeros(()))))
    found = {}
    with lock, evaluating(model):
        for method in methods:
            started = time.perf_counter()
            if method == "saliency":
                a = Saliency(output).attribute(x.clone().requires_grad_(), target=target)
            elif method == "integrated_gradients":
                a = IntegratedGradients(output).attribute(
                    x, baselines=blank, target=target, n_steps=IG_STEPS)
            else:
                a = Occlusion(output).attribute(
                    x, target=target, baselines=blank, sliding_window_shapes=(1, PATCH, PATCH),
                    strides=(1, STRIDE, STRIDE), perturbations_per_eval=64)
            found[method] = {"map": a[0, 0].detach().float().cpu(),
                             "milliseconds": round(1000 * (time.perf_counter() - started), 1)}
    return found
