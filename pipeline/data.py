"""MNIST's files on disk, checked before common.load_mnist reads them; the user's own pictures.

A picture of a digit (--predict, --explain, the page's drawings) is prepared the way MNIST's
digits were, so that the networks read it as they read the test set.
"""
from __future__ import annotations

import contextlib
import gzip
import math
import os
import shutil
import struct
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import common
from common import MNIST_MEAN, MNIST_STD, Split, normalise

from .errors import UserError

MNIST_FILES = {  # file name in MNIST/raw -> the shape of one item
    "train-images-idx3-ubyte": (28, 28),
    "train-labels-idx1-ubyte": (),
    "t10k-images-idx3-ubyte": (28, 28),
    "t10k-labels-idx1-ubyte": (),
}


def _missing_data_message(raw: str, reason: str) -> str:
    names = ", ".join(MNIST_FILES)
    return (f"MNIST is not in {raw} and could not be downloaded ({reason}).\n"
            f"Put the four files {names} (or the same names with .gz) in that folder,\n"
            f"connect to the internet and run again, or pass --data-dir with a folder that "
            f"holds MNIST/raw/.")


def _first_reason(error: Exception) -> str:
    """One short line out of a download error (torchvision's lists every mirror it tried)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line.strip("<>") for line in lines if line.startswith("<")]  # urlopen errors
    reason = reasons[-1] if reasons else (lines[0] if lines else type(error).__name__)
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return f"{type(error).__name__}: {reason}"


def check_idx_file(path: str, item_shape: tuple[int, ...]) -> int:
    """Check an IDX file of unsigned bytes (the MNIST format); return its item count.

    The header is 0x00 0x00 0x08 ndim, then ndim big-endian int32 sizes; the data follows.
    """
    ndim = 1 + len(item_shape)
    with open(path, "rb") as f:
        header = f.read(4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim or header[:4] != bytes([0, 0, 8, ndim]):
        raise UserError(f"{path}: not an MNIST IDX file (bad header); replace it with the "
                        f"original file")
    dims = struct.unpack(f">{ndim}i", header[4:])
    if tuple(dims[1:]) != item_shape:
        raise UserError(f"{path}: holds items of shape {dims[1:]}, expected {item_shape}")
    expected = 4 + 4 * ndim + math.prod(dims)
    size = os.path.getsize(path)
    if size != expected:
        raise UserError(f"{path}: {size} bytes, but its header promises {expected}; the file is "
                        f"truncated or corrupt: replace it with the original file")
    return dims[0]


def gunzip(source: str, target: str) -> None:
    """Unpack source into target, whole or not at all."""
    tmp = f"{target}.tmp"
    try:
        with gzip.open(source, "rb") as f_in, open(tmp, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
        os.replace(tmp, target)
    except (OSError, EOFError) as e:
        raise UserError(f"{source}: cannot be unpacked ({e}); replace it with the original "
                        f"file") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_mnist(data_dir: str) -> None:
    """The four MNIST files in DATA_DIR/MNIST/raw, unpacked (or downloaded) and checked.

    A file that is missing, damaged or cut short, images and labels that do not agree in
    number, or labels that are not digits: one UserError naming the file.
    """
    from torchvision import datasets  # imported here: importing a script stays cheap

    raw = os.path.join(data_dir, "MNIST", "raw")
    for name in MNIST_FILES:  # the original downloads are gzipped: unpack any that came so
        path = os.path.join(raw, name)
        if not os.path.isfile(path) and os.path.isfile(f"{path}.gz"):
            gunzip(f"{path}.gz", path)
    if not all(os.path.isfile(os.path.join(raw, name)) for name in MNIST_FILES):
        check_not_inside(data_dir)
        made = missing_folders(raw)
        try:
            datasets.MNIST(data_dir, train=True, download=True)
        except Exception as e:  # no network, a mirror down, a bad checksum, a read-only folder
            for folder in reversed(made):  # nothing left behind for a folder that holds none
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only if empty
            raise UserError(_missing_data_message(raw, _first_reason(e))) from None
    counts = {name: check_idx_file(os.path.join(raw, name), shape)
              for name, shape in MNIST_FILES.items()}
    for name, count in counts.items():
        if count == 0:
            raise UserError(f"{os.path.join(raw, name)}: holds no items (its header says 0); "
                            f"replace it with the original file")
    check_sizes(raw, counts["train-images-idx3-ubyte"], counts["t10k-images-idx3-ubyte"])
    for prefix in ("train", "t10k"):
        images, labels = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        if counts[images] != counts[labels]:
            raise UserError(f"{raw}: {images} holds {counts[images]} images but {labels} "
                            f"{counts[labels]} labels")
        digits = np.fromfile(os.path.join(raw, labels), dtype=np.uint8, offset=8)
        if len(digits) and int(digits.max()) > 9:
            raise UserError(f"{os.path.join(raw, labels)}: labels must be digits 0-9, found "
                            f"{int(digits.max())}")


def missing_folders(folder: str) -> list[str]:
    """`folder` and those above it that do not exist, outermost first."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    return missing


def check_not_inside(data_dir: str) -> None:
    """--data-dir naming MNIST/raw itself, or MNIST, is a likely slip: said, with the folder
    to pass, instead of a download into a new MNIST/raw inside it."""
    for up, inner in ((2, data_dir), (1, os.path.join(data_dir, "raw"))):
        if any(os.path.isfile(os.path.join(inner, name + gz))
               for name in MNIST_FILES for gz in ("", ".gz")):
            folder = os.path.normpath(os.path.join(data_dir, *[os.pardir] * up))
            raise UserError(f"--data-dir {data_dir}: MNIST's files are in {inner}, and --data-dir "
                            f"is the folder that holds MNIST/raw: pass --data-dir {folder}")


MNIST_COUNTS = (60000, 10000)  # the images in MNIST's train- and t10k- files


def check_sizes(raw: str, train: int, test: int) -> None:
    """MNIST's own counts the wrong way round are swapped files (refused); any other training
    set smaller than the test set may be a trimmed one, tried on purpose (a note)."""
    if (train, test) == MNIST_COUNTS[::-1]:
        raise UserError(f"{raw}: the train- files hold {train} images and the t10k- files "
                        f"{test}, MNIST's test and training sets: the files are swapped; "
                        f"swap their names back")
    if train < test:
        print(f"note: {raw}: the training set holds fewer images ({train}) than the test set "
              f"({test}); MNIST's hold {MNIST_COUNTS[0]} and {MNIST_COUNTS[1]}", file=sys.stderr)


def load_mnist(data_dir: str, device: torch.device) -> tuple[Split, Split]:
    """common.load_mnist, after checking the files: what every command that needs MNIST calls."""
    ensure_mnist(data_dir)
    return common.load_mnist(data_dir, device)


def load_digit(path: str, steps: list[Step] | None = None) -> torch.Tensor:
    """A picture of one digit -> 1 x 28 x 28, prepared the way MNIST's digits were.

    Any size, colour or grey, dark ink on light paper or light on dark: the border tells the
    paper's shade. Like MNIST, the ink's bounding box is scaled to fit 20 x 20 and placed in
    a 28 x 28 frame with its centre of mass in the middle, digit light on dark. `steps`, if
    given, receives each step's picture and numbers (prepare_digit).
    """
    if os.path.isdir(path):
        raise UserError(f"{path}: a folder, not a picture")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    return read_picture(path, path, steps)


def read_picture(source: Any, path: str, steps: list[Step] | None = None) -> torch.Tensor:
    """load_digit's work on a file name or an open binary file (the web page's drawings);
    `path` names it in messages."""
    from PIL import Image, UnidentifiedImageError

    too_large = f"{path}: too large for a picture of a digit ({{}}); not decoded"
    try:
        with warnings.catch_warnings():  # Pillow warns from 89 million pixels; ours says no at 50
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(source)  # reads the header only
        with img:
            width, height = img.size
            if width * height > MAX_PICTURE_PIXELS:
                raise UserError(too_large.format(f"{width} x {height} pixels, at most "
                                                 f"{MAX_PICTURE_PIXELS // 10**6} million"))
            img.seek(0)  # an animation: its first frame
            img.load()
            grey = grey_pixels(img)
    except Image.DecompressionBombError as e:
        raise UserError(too_large.format(str(e).rstrip("."))) from None
    except UnidentifiedImageError:  # its message is the repr of an open file
        raise UserError(f"{path}: not a picture that can be read (not a raster image Pillow "
                        f"knows, such as PNG or JPEG; an SVG must be saved as PNG first)") from None
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a picture that can be read ({e})") from None

    return prepare_digit(grey, path, steps)


MAX_PICTURE_PIXELS = 50 * 10**6  # a 50-megapixel photo; Pillow's own guard is at 179


def grey_pixels(img) -> np.ndarray:
    """Any Pillow picture -> H x W float32 grey in [0, 1], transparent parts as white paper.

    16-bit, 32-bit and float pictures are read at their own precision and scaled by their
    real range of values (Pillow's conversion to 8 bits would clip them to white or black).
    """
    from PIL import Image

    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0,
                               neginf=0.0)
        low, high = float(values.min()), float(values.max())
        return ((values - low) / (high - low if high > low else 1.0)).astype(np.float32)
    if img.mode == "LAB":
        img = img.getchannel("L")  # lightness
    elif img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        img = img.convert("RGBA")
        paper = Image.new("RGBA", img.size, "white")  # transparent means paper
        img = Image.alpha_composite(paper, img)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


@dataclass
class Step:
    """One step of preparing a picture: its name, the picture after it, and its numbers."""
    name: str
    picture: np.ndarray  # H x W: grey in [0, 1]; the last step's, normalised values
    note: str


def prepare_digit(grey: np.ndarray, path: str, steps: list[Step] | None = None) -> torch.Tensor:
    """H x W grey in [0, 1] -> 1 x 28 x 28 as MNIST's digits were made (see load_digit);
    each step's picture and numbers go to `steps` if given."""
    steps = [] if steps is None else steps
    h, w = grey.shape
    steps.append(Step("grey", grey, f"{w} x {h} pixels, 0 black to 1 white"))
    frame = centred(scaled(ink_box(grey, path, steps), steps), steps)
    image = normalise(torch.from_numpy(frame))
    steps.append(Step("normalised", image.numpy(), f"(x - {MNIST_MEAN}) / {MNIST_STD}: from "
                      f"{float(image.min()):.2f} to {float(image.max()):.2f}, mean "
                      f"{float(image.mean()):.2f}, std {float(image.std()):.2f}"))
    return image.unsqueeze(0)


def ink_box(grey: np.ndarray, path: str, steps: list[Step]) -> np.ndarray:
    """Light ink on dark paper from 0 to 1, cut to the ink's box."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    light = np.median(border) > 0.5
    if light:  # light paper: turn it into MNIST's light ink on dark
        grey, border = 1.0 - grey, 1.0 - border
    paper, brightest = float(np.median(border)), float(grey.max())
    ink = np.clip((grey - paper) / max(brightest - paper, 1e-6), 0.0, 1.0)
    steps.append(Step("paper and ink", ink, f"the border is {'light' if light else 'dark'} "
                      f"paper: {'inverted, so' if light else 'kept;'} paper {paper:.2f} → 0, the "
                      f"brightest ink {brightest:.2f} → 1"))
    rows, cols = np.nonzero(ink > 0.25)
    if len(rows) == 0:
        raise UserError(f"{path}: no digit found (the picture is blank)")
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = ink.shape
    steps.append(Step("the ink's box", ink, f"rows {rows.min()}-{rows.max()}, columns "
                      f"{cols.min()}-{cols.max()} (ink above 0.25): {w} x {h}"))
    return ink


def scaled(ink: np.ndarray, steps: list[Step]) -> np.ndarray:
    """The ink's box scaled to fit 20 x 20, as MNIST's digits were."""
    from PIL import Image

    h, w = ink.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0.0, 1.0)
    steps.append(Step("scaled to fit 20 x 20", small, f"x {scale:.3f} (Lanczos): {w} x {h} → "
                      f"{size[0]} x {size[1]}"))
    return small


def centred(small: np.ndarray, steps: list[Step]) -> np.ndarray:
    """The scaled digit in 28 x 28, its centre of mass at the middle (by whole pixels)."""
    total = small.sum()
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    frame = np.zeros((28, 28), dtype=np.float32)
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    steps.append(Step("centred by mass in 28 x 28", frame, f"its centre of mass "
                      f"({cx:.1f}, {cy:.1f}) placed at ({left + cx:.1f}, {top + cy:.1f}): left "
                      f"{left}, top {top} (x, y; 14 is the middle)"))
    return frame
