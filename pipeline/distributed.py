"""Data-parallel training under torchrun; without torchrun every function here is a no-op.

torchrun starts one process per GPU (or per CPU worker) and sets RANK, LOCAL_RANK and
WORLD_SIZE. Each process holds the whole data set, takes its own shard of every epoch's
permutation, and DistributedDataParallel averages the gradients, so the effective batch is
--batch-size x WORLD_SIZE. Only rank 0 prints and writes files.
"""
from __future__ import annotations

import gc
import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist


def launched() -> bool:
    """True when this process was started by torchrun (or another launcher that sets RANK)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def restarted() -> bool:
    """torchrun's --max-restarts started this worker again after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0


def setup(device: torch.device) -> None:
    """Join the process group: NCCL for CUDA, gloo on CPU. Silence stdout off rank 0."""
    if not launched() or active():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = timedelta(minutes=10)
    device_id = device if device.type == "cuda" else None
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":  # another launcher: env://
        dist.init_process_group(backend, timeout=timeout, device_id=device_id)
    else:
        # torchrun keeps one key-value store across --max-restarts; each attempt gets its own
        # prefix there, or a restarted worker would read the dead workers' addresses.
        store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                              is_master=False, timeout=timeout)
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group(backend, store=dist.PrefixStore(f"attempt{attempt}", store),
                                rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]), timeout=timeout,
                                device_id=device_id)
    if not is_main():
        sys.stdout = open(os.devnull, "w")  # one log: rank 0's


def cleanup() -> None:
    """Leave the process group while the interpreter is whole.

    The DistributedDataParallel wrapper holds the group; left to a later garbage collection,
    it can be freed during interpreter shutdown, and the process then ends in SIGABRT
    ("terminate called without an active exception") after a finished run. So collect it first.
    """
    if active():
        gc.collect()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over the ranks, in place; returns it."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """The largest value over the ranks, in place; returns it."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if `flag` is True on any; also a barrier. `device`: the collectives'."""
    if not active():
        return flag
    return bool(all_reduce_max(torch.tensor([float(flag)], device=device)).item())


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics), as a single run would have."""
    if active():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def shard(n: int) -> slice:
    """This rank's equal share of n items (the few left over are dropped this epoch)."""
    per_rank = n // world_size()
    return slice(rank() * per_rank, (rank() + 1) * per_rank)


def gather_objects(obj):
    """Every rank's `obj`, in rank order (a list of one without torchrun)."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
