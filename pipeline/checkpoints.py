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
from typing import Any

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
                    args: dict[str, Any], metrics: list[dict[str, float]], batch: int = 0,
                    order_state: torch.Tensor | None = None) -> dict[str, Any]:
    """The whole training state. Under torchrun every rank must call this (it gathers each
    rank's random state); rank 0 writes the result.

    `epoch` epochs are finished and `batch` batches of the next one (a test inside an epoch);
    then `order_state` is the batch-order generator as it was before that epoch's permutation.
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
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng,
        "args": args,
        "metrics": metrics,
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
    if obj["network"] != network:
        raise UserError(f"{path}: a checkpoint of {obj['network']}.py, not of {network}.py")
    return obj


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
    model.load_state_dict(state)
    return checkpoint


def restore(checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: Any, generator: torch.Generator) -> None:
    """Put a run back exactly where the checkpoint left it."""
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    rng = checkpoint["rng"]
    generator.set_state(rng["batch_order"])
    r = distributed.rank()  # a run resumed on fewer ranks than it was saved on reuses rank 0's
    torch.set_rng_state(rng["torch"][r if r < len(rng["torch"]) else 0])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"][r if r < len(rng["cuda"]) else 0])
