"""Checkpoints: written atomically, read safely, resumed exactly.

A checkpoint is a plain dict of tensors, numbers and strings, so that
`torch.load(..., weights_only=True)` reads it: a file from a stranger cannot run code here.
It carries the configuration that produced it (the arguments, the network's script) and
every random state the run uses, so `--resume` continues as if it had never stopped.
"""
from __future__ import annotations

import io
import os
import pickle
import platform
from typing import Any, Callable

import torch
from torch import nn

from . import distributed, files
from .errors import UserError

FORMAT = "lecture10-checkpoint/1"
SAFETENSORS_FORMAT = "lecture10-weights/1"


def atomic_save(obj: Any, path: str) -> None:
    """torch.save, atomically (files.write_bytes): never half a file, the old one kept on error.

    Serialised in memory first: torch.save's own file writer turns a full disk into an
    unreadable "enforce fail" message, a plain write gives "No space left on device".
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    files.write_bytes(path, buffer.getvalue())


def is_safetensors(path: str) -> bool:
    return path.lower().endswith(".safetensors")


def save_weights(model: nn.Module, path: str, network: str) -> None:
    """The trained weights alone: a state_dict (.pt), or tensors only with no pickle at all
    (.safetensors, with the network's name in its metadata)."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if is_safetensors(path):
        from safetensors.torch import save
        files.write_bytes(path, save(state, metadata={"format": SAFETENSORS_FORMAT,
                                                       "network": network}))
    else:
        atomic_save(state, path)


def read_safetensors(path: str, network: str) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file (a format that holds no code); checked as read."""
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # a header that is garbage, a file cut short
        raise UserError(f"{path}: not a safetensors file that can be read "
                        f"({type(e).__name__}: {e})") from None
    saved_for = metadata.get("network")
    if saved_for is not None and saved_for != network:
        raise UserError(f"{path}: the weights of {saved_for}.py, not of {network}.py")
    return state


def versions() -> dict[str, str]:
    import torchvision
    return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "python": platform.python_version()}


def make_checkpoint(network: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator, epoch: int,
                    args: dict[str, Any], metrics: list[dict[str, float]], batches: int,
                    batch: int = 0, order_state: torch.Tensor | None = None,
                    losses: dict[str, list[float]] | None = None) -> dict[str, Any]:
    """The whole training state. Under torchrun every rank must call this (it gathers each
    rank's random state); rank 0 writes the result.

    `epoch` epochs are finished and `batch` batches of the next one (a test inside an epoch);
    then `order_state` is the batch-order generator as it was before that epoch's permutation.
    `batches` is an epoch's length in batches (on each rank), which a resumed run must share.
    `losses`: the training losses summed so far ({"test": [total, images] since the last test
    pass, "epoch": [...] since the epoch began}), so that a run saved between two test passes
    reports the same training loss at the next one when resumed.
    """
    if batch and order_state is None:
        raise ValueError("a checkpoint inside an epoch needs the generator state of its start")
    rng = {"batch_order": order_state if batch else generator.get_state(),  # same on every rank
           "torch": distributed.gather_objects(torch.get_rng_state())}  # one per rank
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = distributed.gather_objects(torch.cuda.get_rng_state())
    return {
        "format": FORMAT,
        "network": network,
        "epoch": epoch,
        "batch": batch,
        "batches": batches,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng,
        "args": args,
        "metrics": metrics,
        "losses": losses or {},
        "versions": versions(),
    }


def read(path: str) -> Any:
    """Load a file of ours with weights_only=True; anything else is a UserError naming it."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    if torch.__version__ < "2.6":  # weights_only has been sound (and the default) since 2.6
        raise UserError(f"loading {path} safely needs torch >= 2.6; this is {torch.__version__}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            raise UserError(f"{path}: refused: it holds Python objects beyond tensors and plain "
                            f"data, which could run code when loaded; only checkpoints and "
                            f"state_dicts are read (weights_only=True)") from None
        raise UserError(f"{path}: not a checkpoint or state_dict of these scripts "
                        f"(garbage or truncated: {e})") from None
    except Exception as e:  # a truncated zip, random bytes, an empty file
        raise UserError(f"{path}: not a checkpoint or state_dict of these scripts "
                        f"(garbage or truncated: {type(e).__name__}: {e})") from None


def as_checkpoint(obj: Any, path: str, network: str) -> dict[str, Any] | None:
    """`obj` if it is a --checkpoint file of this network's script, None if no checkpoint."""
    if not (isinstance(obj, dict) and obj.get("format") == FORMAT):
        return None
    check_fields(obj, path)
    check_agreement(obj, path)
    if obj["network"] != network:
        raise UserError(f"{path}: a checkpoint of {obj['network']}.py, not of {network}.py")
    return obj


def _count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _tensors(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values())


def _states(v: Any) -> bool:  # random generator states, one per rank
    return isinstance(v, list) and len(v) > 0 and all(isinstance(t, torch.ByteTensor) for t in v)


def _rows(v: Any) -> bool:  # the metrics: one row of numbers per test pass
    return isinstance(v, list) and all(
        isinstance(r, dict) and all(type(r.get(k)) in (int, float) for k in
                                    ("epoch", "train_loss", "test_loss", "test_accuracy"))
        for r in v)


def _sums(v: Any) -> bool:  # {"test": [total, images], "epoch": [total, images]}
    return isinstance(v, dict) and all(
        isinstance(p, list) and len(p) == 2 and type(p[0]) in (int, float) and _count(p[1])
        for p in v.values())


FIELDS = {  # what each field of a checkpoint must be, and how that is said
    "network": (lambda v: isinstance(v, str), "a script's name"),
    "epoch": (_count, "a count of epochs"),
    "batch": (_count, "a count of batches"),
    "model": (_tensors, "a state_dict of tensors"),
    "optimizer": (lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict)
                  and isinstance(v.get("param_groups"), list), "an optimiser's state_dict"),
    "scheduler": (lambda v: v is None or isinstance(v, dict), "a schedule's state_dict"),
    "rng": (lambda v: isinstance(v, dict), "the random states"),
    "rng.batch_order": (lambda v: isinstance(v, torch.ByteTensor), "a generator state"),
    "rng.torch": (_states, "one generator state per rank"),
    "args": (lambda v: isinstance(v, dict) and isinstance(v.get("recipe"), str)
             and all(_count(v.get(k)) and v[k] > 0 for k in ("epochs", "batch_size")),
             "the run's settings"),
    "metrics": (_rows, "rows of epoch, train_loss, test_loss, test_accuracy"),
}


def check_fields(checkpoint: dict[str, Any], path: str) -> None:
    """Every field a checkpoint needs, of the kind it needs: else one line naming the field."""
    for field, (fits, what) in FIELDS.items():
        holder, key = checkpoint, field
        if "." in field:
            outer, key = field.split(".")
            holder = checkpoint[outer]
        if key not in holder:
            raise UserError(f"{path}: a damaged checkpoint: its {field} is missing")
        if not fits(holder[key]):
            raise UserError(f"{path}: a damaged checkpoint: its {field} is not {what}")
    if "batches" in checkpoint and not (_count(checkpoint["batches"]) and checkpoint["batches"]):
        raise UserError(f"{path}: a damaged checkpoint: its batches is not a count of batches")
    if "losses" in checkpoint and not _sums(checkpoint["losses"]):
        raise UserError(f"{path}: a damaged checkpoint: its losses is not sums of losses")


def check_agreement(checkpoint: dict[str, Any], path: str) -> None:
    """The fields against each other, in one place: where the run stands within its epochs,
    the random states' sizes, the metrics, and the optimiser and schedule its settings name.
    A checkpoint that passes resumes exactly; else one line naming the field."""
    def damaged(field: str, why: str) -> None:
        raise UserError(f"{path}: a damaged checkpoint: its {field} {why}")

    epoch, batch, batches = checkpoint["epoch"], checkpoint["batch"], checkpoint.get("batches")
    args = checkpoint["args"]
    if batches is not None and batch >= batches:
        damaged("batch", f"({batch}) lies past the end of its epoch ({batches} batches)")
    if epoch + (batch > 0) > args["epochs"]:
        damaged("epoch", f"({epoch}{f', {batch} batches into the next' if batch else ''}) is "
                         f"beyond the {args['epochs']} epochs its run was asked for (args.epochs)")
    size = torch.get_rng_state().numel()
    for field, state in [("rng.batch_order", checkpoint["rng"]["batch_order"]),
                         *[("rng.torch", t) for t in checkpoint["rng"]["torch"]]]:
        if state.numel() != size:
            damaged(field, f"is {state.numel()} bytes, not a random generator's {size}")
    at = epoch + (batch / batches if batches else 0)
    for row in checkpoint["metrics"]:
        if not 0 <= row["test_accuracy"] <= 100 or not 0 < row["epoch"] <= at + 0.01:  # 2 decimals
            damaged("metrics", f"has a row (epoch {row['epoch']}, {row['test_accuracy']}%) "
                               f"that no test pass up to epoch {at:g} could have written")
    check_optimizer(checkpoint, damaged)


def check_optimizer(checkpoint: dict[str, Any], damaged: Callable[[str, str], None]) -> None:
    """The optimiser's and the schedule's states are those of the settings the file carries."""
    args, groups = checkpoint["args"], checkpoint["optimizer"]["param_groups"]
    sgd = args.get("optimizer", "sgd") in ("sgd", "nesterov")
    for group in groups:
        if not isinstance(group, dict) or ("momentum" in group) != sgd or (
                sgd and group.get("nesterov") != (args.get("optimizer") == "nesterov")):
            damaged("optimizer", f"is not the state of --optimizer {args.get('optimizer', 'sgd')}, "
                                 f"which its args name")
    if (checkpoint["scheduler"] is None) != (args.get("schedule", "constant") == "constant"):
        damaged("scheduler", f"does not go with --schedule {args.get('schedule', 'constant')}, "
                             f"which its args name")


def read_checkpoint(path: str, network: str) -> dict[str, Any]:
    checkpoint = as_checkpoint(read(path), path, network)
    if checkpoint is None:
        raise UserError(f"{path}: not a checkpoint written by --checkpoint (a --save-model file "
                        f"can be used with --load, not --resume)")
    return checkpoint


def load_weights(model: nn.Module, path: str, network: str) -> dict[str, Any] | None:
    """Put the weights of a --save-model file or a checkpoint into `model`.

    Returns the checkpoint (for its metrics) or None for a plain state_dict or a
    .safetensors file.
    """
    if is_safetensors(path):
        checkpoint, state = None, read_safetensors(path, network)
    else:
        obj = read(path)
        checkpoint = as_checkpoint(obj, path, network)
        state = checkpoint["model"] if checkpoint is not None else obj
    if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise UserError(f"{path}: not a checkpoint or state_dict of these scripts")
    check_fits(model, state, path, network)
    model.load_state_dict(state)
    return checkpoint


def check_fits(model: nn.Module, state: dict[str, torch.Tensor], path: str,
               network: str) -> None:
    """The weights in `path` fit `model` (same names, same shapes) and are numbers."""
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    reshaped = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    if missing or unexpected or reshaped:
        found = [f"{len(names)} {what} (first: {names[0]})" for names, what in
                 ((missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
                 if names]
        raise UserError(f"{path}: these weights do not fit {network}.py's Net: "
                        f"{', '.join(found)}")
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise UserError(f"{path}: the weights hold NaN or infinite values ({len(broken)} "
                        f"tensors, first: {broken[0]}); they cannot read a digit")


def restore(checkpoint: dict[str, Any], path: str, model: nn.Module,
            optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator) -> None:
    """Put a run back exactly where the checkpoint at `path` left it."""
    check_fits(model, checkpoint["model"], path, checkpoint["network"])
    model.load_state_dict(checkpoint["model"])
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise UserError(f"{path}: its optimiser state does not fit this run's "
                        f"--optimizer {type(optimizer).__name__} ({str(e).splitlines()[0]})") from None
    for group in optimizer.param_groups:  # momentum and the like, for these very parameters
        for param in group["params"]:
            for name, state in optimizer.state.get(param, {}).items():
                if isinstance(state, torch.Tensor) and state.dim() and state.shape != param.shape:
                    raise UserError(f"{path}: a damaged checkpoint: its optimizer holds a "
                                    f"{name} of shape {tuple(state.shape)} for a parameter of "
                                    f"shape {tuple(param.shape)}")
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    rng = checkpoint["rng"]
    generator.set_state(rng["batch_order"])
    r = distributed.rank()  # a run resumed on fewer ranks than it was saved on reuses rank 0's
    torch.set_rng_state(rng["torch"][r if r < len(rng["torch"]) else 0])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"][r if r < len(rng["cuda"]) else 0])
