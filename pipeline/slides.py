"""The slides' worked examples of pooling and convolution, computed by PyTorch for the page.

POST /api/slide (pipeline/serve.py) answers with `slide()`: F.max_pool2d, F.avg_pool2d or
F.conv2d's output for a small grid, the window of every output cell, and the output size
formula with the example's numbers.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from .answers import BadRequest, number_grid, small_int

MAX_GRID = 12  # a worked example's largest side

# The slides' worked examples, as the lecture draws them.
FOUR_BY_FOUR = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]
FIVE_BY_FIVE = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2],
                [2, 0, 0, 0, 1]]
THREE_BY_THREE = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
EXAMPLES = [
    {"title": "Max pooling 2x2, stride 2, of a 4x4 slice", "op": "max", "input": FOUR_BY_FOUR,
     "kernel": 2, "stride": 2, "padding": 0},
    {"title": "Max pooling 3x3, stride 1, of a 5x5 grid", "op": "max", "input": FIVE_BY_FIVE,
     "kernel": 3, "stride": 1, "padding": 0},
    {"title": "Average pooling 3x3, stride 1, of a 5x5 grid", "op": "avg",
     "input": FIVE_BY_FIVE, "kernel": 3, "stride": 1, "padding": 0},
    {"title": "A 3x3 image under a 2x2 filter of ones, no padding", "op": "conv",
     "input": THREE_BY_THREE, "kernel": 2, "stride": 1, "padding": 0},
    {"title": "The same with padding ('same': the output stays 3x3)", "op": "conv",
     "input": THREE_BY_THREE, "kernel": 2, "stride": 1, "padding": "same"},
]


def slide(body: dict[str, Any]) -> dict[str, Any]:
    """One worked example, computed by PyTorch: output, each output cell's window, formula."""
    op = body.get("op")
    if op not in ("max", "avg", "conv"):
        raise BadRequest(400, 'op must be "max", "avg" or "conv"')
    grid = number_grid(body.get("input"), "input", MAX_GRID)
    n_rows, n_cols = grid.shape
    k = small_int(body, "kernel", 1, 5)
    s = small_int(body, "stride", 1, 4)
    padding = body.get("padding", 0)
    before, after = padding_of(body, op, k, s)
    if k > min(n_rows, n_cols) + before + after:
        raise BadRequest(400, f"a {k}x{k} window does not fit a {n_rows}x{n_cols} input with "
                              f"padding {padding}")
    x = torch.tensor(grid, dtype=torch.float64)[None, None]
    padded = F.pad(x, (before, after, before, after), value=-math.inf if op == "max" else 0.0)
    out = computed(x, op, k, s, "same" if padding == "same" else before)
    windows = [[i * s, j * s, i * s + k, j * s + k]
               for i in range(out.shape[0]) for j in range(out.shape[1])]
    return {"op": op, "kernel": k, "stride": s, "padding": padding,
            "padded": [[None if math.isinf(v) else v for v in row] for row in padded[0, 0].tolist()],
            "pad": [before, before, after, after],  # top, left, bottom, right
            "output": out.tolist(), "windows": windows,
            "formula": size_formula(n_rows, k, s, padding, out.shape[0])}


def padding_of(body: dict[str, Any], op: str, k: int, s: int) -> tuple[int, int]:
    """The padding before and after, on each side: "same" (a convolution of stride 1) or a
    number that PyTorch's op takes."""
    if body.get("padding", 0) == "same":
        if op != "conv" or s != 1:
            raise BadRequest(400, 'padding "same" is for a convolution with stride 1')
        return (k - 1) // 2, k - 1 - (k - 1) // 2  # PyTorch puts the extra at the end
    p = small_int(body, "padding", 0, 2)
    if op != "conv" and p > k // 2:
        raise BadRequest(400, f"padding {p} is more than half the kernel ({k}); PyTorch's "
                              f"pooling allows at most {k // 2}")
    return p, p


def computed(x: torch.Tensor, op: str, k: int, s: int, padding: int | str) -> torch.Tensor:
    """PyTorch's max or average pooling, or a convolution with a kernel of ones."""
    if op == "max":
        out = F.max_pool2d(x, k, stride=s, padding=padding)
    elif op == "avg":
        out = F.avg_pool2d(x, k, stride=s, padding=padding)  # padding counts as 0, as PyTorch's
    else:
        ones = torch.ones(1, 1, k, k, dtype=torch.float64)
        with warnings.catch_warnings():  # 'same' with an even kernel pads a copy: as meant
            warnings.simplefilter("ignore", UserWarning)
            out = F.conv2d(x, ones, stride=s, padding=padding)
    if not torch.isfinite(out).all():
        raise BadRequest(400, f"{op}: the result overflows a float (the input's values are too "
                              f"large); give smaller numbers")
    return out[0, 0]


def size_formula(n: int, k: int, s: int, padding: Any, out: int) -> str:
    """The output size formula with this example's numbers, and its value from PyTorch."""
    if padding == "same":
        return f"padding 'same', stride 1: output = input = {n}; PyTorch gives {out}"
    return f"floor(({n} + 2*{padding} - {k}) / {s}) + 1 = {(n + 2 * padding - k) // s + 1}; " \
           f"PyTorch gives {out}"
