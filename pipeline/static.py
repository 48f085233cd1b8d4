"""--export-page DIR: the page of a trained network as a static site, for any browser, with no
Python behind it (a friend's phone, a course forum, GitHub Pages).

DIR receives the page's own files (web/: index.html, style.css, its modules) with static.js as
their home instead of the server: there the network runs in the browser, in onnxruntime-web's
single-threaded WebAssembly build (no special headers needed), and prepare.js makes a drawing
into MNIST's 28 x 28 as data.prepare_digit does. Beside them:

    network.onnx   the network, its outputs the log-probabilities, what reaches the classifier
                   and each layer's output (explain.layers: every map the page shows), checked
                   against PyTorch in onnxruntime on people's pen digits before anything is
                   written (largest_gap)
    network.json   the network described as /api/info describes it, each output's layer, the
                   convolutions' filters, and people's pen digits for the pad to open with
    ort/           onnxruntime-web ORT_VERSION, fetched from the npm registry by npm at export
                   time into a cache (or taken from --onnxruntime FOLDER); never committed

Served by any static host (or `python -m http.server` in DIR) it fetches nothing from elsewhere.
What needs PyTorch (Captum's maps, the sliders, the slides' pooling, watching a run) the page
leaves out, saying so with the command that gives it.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import answers, explain, files, pens, styles
from .device import cpu_copy
from .errors import UserError
from .page import WEB, make_page

ORT_VERSION = "1.31.1"  # onnxruntime-web, pinned
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")  # its dist/ files used
TOLERANCE = 1e-4  # the largest difference accepted between onnxruntime's outputs and PyTorch's
# (the log-probabilities' as they are; a layer's relative to its largest value)
PEN_DIGITS_SHIPPED = 40  # people's pen digits in network.json (the pad opens with one)
PAGE_FILES = ("index.html", "style.css", "favicon.svg")


class Outputs(nn.Module):
    """The network returning, besides its log-probabilities, what reaches its classifier and
    each layer's output in the order forward runs them (the page's every number, one run)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.classifier = explain.Explainer(model).classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        seen: list[torch.Tensor] = []
        flat: list[torch.Tensor] = []
        hooks = explain.hooked(self.model, self.classifier, lambda name, m, output: seen.append(
            output) if isinstance(output, torch.Tensor) else None, flat.append)
        try:
            out = self.model(x)
        finally:
            for hook in hooks:
                hook.remove()
        return (out, flat[-1], *seen)


def to_onnx(model: nn.Module) -> bytes:
    """The network's Outputs (eval mode, CPU, fp32) as ONNX, one picture at a time."""
    try:
        program = torch.onnx.export(Outputs(cpu_copy(model)).eval(), (torch.zeros(1, 1, 28, 28),),
                                    dynamo=True, verbose=False)
    except Exception as e:
        raise UserError(f"--export-page: torch.onnx could not export this network "
                        f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    return program.model_proto.SerializeToString()


def check_pictures(count: int = 32) -> torch.Tensor:
    """`count` of people's pen digits drawn as 28 x 28 pictures (every institution's)."""
    digits = pens.load()
    chosen = digits[:: max(1, len(digits) // count)][:count]
    pictures = pens.PenPictures.of(chosen, torch.device("cpu"))
    return pictures.draw(torch.full((len(chosen),), 0.1))


def largest_gap(model: nn.Module, onnx_model: bytes, pictures: torch.Tensor) -> float:
    """The largest difference between onnxruntime's outputs and PyTorch's on `pictures`: in
    the log-probabilities as they are, in a layer's output relative to its largest value (a
    layer of values in the hundreds differs in the fourth decimal where float32 does)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = Outputs(cpu_copy(model)).eval()
    largest = 0.0
    with torch.inference_mode():
        for picture in pictures:
            expected = outputs(picture[None])
            got = session.run(None, {name: picture[None].numpy()})
            for i, (e, g) in enumerate(zip(expected, got)):
                scale = 1.0 if i == 0 else max(1.0, float(e.abs().max()))
                gap = (torch.from_numpy(g) - e).abs().nan_to_num(nan=torch.inf) / scale
                largest = max(largest, float(gap.max()))
    return largest


def described(model: nn.Module, network: str, pen_digits: str | None) -> dict[str, Any]:
    """network.json: /api/info's description, each output's layer as the page shows it (name,
    kind, a convolution's filters), people's pen digits for the pad to open with, and when
    the network is torn (styles.torn's rule, which static.js follows)."""
    page = make_page(model, network, pen_digits=pen_digits)
    e = page.explainer(torch.zeros(1, 28, 28))
    layers = []
    for stage in e.stages:
        layer = {"name": stage.name, "kind": type(stage.module).__name__}
        if isinstance(stage.module, nn.Conv2d):
            layer["filters"] = answers.drawn(stage.module.weight.detach().float().cpu())
        layers.append(layer)
    shipped = random.Random(0).sample(pens.load(), PEN_DIGITS_SHIPPED)
    return {"info": {**page.info, "live": None}, "layers": layers,
            "flatten": {"into": page.info["classifier"],
                        "before": next(i for i, s in enumerate(e.stages) if s.module is e.linear)},
            "pens": [{"label": d.label, "source": d.source, "strokes": pens.on_pad(d)}
                     for d in shipped],
            "torn": {"share": styles.TORN,
                     "meant": [[a, b, words] for (a, b), words in styles.MEANT.items()]}}


def export_page(model: nn.Module, network: str, folder: str, onnxruntime_dir: str | None,
                pen_digits: str | None = None) -> None:
    """Write the static page of `model` into `folder`, checked first; print its size."""
    runtime = onnxruntime_web(onnxruntime_dir)
    onnx_model = to_onnx(model)
    gap = largest_gap(model, onnx_model, check_pictures())
    if not gap <= TOLERANCE:  # NaN fails too
        raise UserError(f"--export-page {folder}: onnxruntime's outputs differ from PyTorch's by "
                        f"up to {gap:.2e} (more than {TOLERANCE:g}); nothing was written")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write_site(out, onnx_model, described(model, network, pen_digits), runtime)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"page: {folder}: {size / 2**20:.1f} MB (onnxruntime-web {ORT_VERSION}: "
          f"{sum((out / 'ort' / f).stat().st_size for f in ORT_FILES) / 2**20:.1f} MB, the "
          f"network {len(onnx_model) / 2**20:.2f} MB); outputs within {gap:.1e} of PyTorch's. "
          f"Open it from any static host, or: python -m http.server --directory {folder}")


def write_site(out: Path, onnx_model: bytes, network: dict[str, Any], runtime: Path) -> None:
    for js in WEB.glob("*.js"):
        if js.name not in ("app.js", "widget.js"):  # the server's home, the notebook's
            shutil.copyfile(js, out / js.name)
    for name in PAGE_FILES:
        text = (WEB / name).read_bytes()
        if name == "index.html":  # relative links (a GitHub Pages site lives in a subfolder)
            text = text.replace(b'href="/', b'href="').replace(b'src="/app.js"', b'src="static.js"')
        (out / name).write_bytes(text)
    (out / "README.txt").write_text(credits())
    files.write_bytes(str(out / "network.onnx"), onnx_model)
    (out / "network.json").write_text(json.dumps(network, allow_nan=False))
    (out / "ort").mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(runtime / name, out / "ort" / name)


MIT = """Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""


def credits() -> str:
    """README.txt: what the folder is, and what it ships of others' (their licences' terms)."""
    unipen = (pens.PEN_DIGITS.parent / "README.md").read_text()
    source = unipen[unipen.index("### Source and licence"):].split("\n", 1)[1].strip()
    return (f"The page of a network trained on MNIST by a script of Lecture 10 (PyTorchZeroToAll), "
            f"written by its --export-page: open index.html from any static host; it fetches "
            f"nothing from elsewhere.\n\nnetwork.json holds {PEN_DIGITS_SHIPPED} people's pen "
            f"digits from UNIPEN:\n\n{source}\n\nort/ is onnxruntime-web {ORT_VERSION} "
            f"(https://github.com/microsoft/onnxruntime), under the MIT licence:\n\n{MIT}\n")


# ----------------------------------------------------------------------------- the runtime

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lecture10" / f"onnxruntime-web-{ORT_VERSION}"


def onnxruntime_web(given: str | None) -> Path:
    """The folder holding ORT_FILES: `given` (the package unpacked, or its dist/), else the
    cache, filled by npm from the registry the first time."""
    if given is not None:
        for folder in (Path(given), Path(given) / "dist", Path(given) / "package" / "dist"):
            if all((folder / f).is_file() for f in ORT_FILES):
                return folder
        raise UserError(f"--onnxruntime {given}: no {' and '.join(ORT_FILES)} there (give the "
                        f"onnxruntime-web {ORT_VERSION} package unpacked, or its dist folder)")
    cache = cache_dir()
    if not all((cache / f).is_file() for f in ORT_FILES):
        fetch(cache)
    return cache


def fetch(cache: Path) -> None:
    """onnxruntime-web ORT_VERSION's files from the npm registry (npm pack), into `cache`."""
    npm = shutil.which("npm")
    hint = (f"or download onnxruntime-web-{ORT_VERSION}.tgz from the npm registry elsewhere, "
            f"unpack it and pass --onnxruntime FOLDER")
    if npm is None:
        raise UserError(f"--export-page needs onnxruntime-web {ORT_VERSION}, which npm fetches: "
                        f"npm is not installed here (install Node.js), {hint}")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([npm, "pack", f"onnxruntime-web@{ORT_VERSION}",
                                 "--pack-destination", tmp], capture_output=True, text=True)
        packed = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not packed:
            reason = (result.stderr.strip().splitlines() or ["no package written"])[-1]
            raise UserError(f"npm could not fetch onnxruntime-web@{ORT_VERSION} ({reason}); "
                            f"connect to the registry and run again, {hint}")
        with tarfile.open(packed[0]) as tgz:
            for name in ORT_FILES:
                member = tgz.getmember(f"package/dist/{name}")
                files.write_bytes(str(Path(tmp) / name), tgz.extractfile(member).read())
        cache.mkdir(parents=True, exist_ok=True)
        for name in ORT_FILES:
            shutil.move(Path(tmp) / name, cache / name)


if __name__ == "__main__":  # python -m pipeline.static: onnxruntime-web fetched into the cache
    try:
        print(f"onnxruntime-web {ORT_VERSION}: {onnxruntime_web(None)}")
    except UserError as e:
        raise SystemExit(f"error: {e}")
