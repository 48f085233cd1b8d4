"""On what a run computes: the device, and the network's place and layout on it."""
from __future__ import annotations

import copy
import os

import torch
from torch import nn

from . import distributed
from .errors import UserError


def pick_device(name: str) -> torch.device:
    """The one place that chooses the device; asking for one that is not here is a UserError.

    Under torchrun, `cuda` and `auto` mean this process's GPU, cuda:LOCAL_RANK.
    """
    if distributed.launched() and name in ("auto", "cuda") and torch.cuda.is_available():
        name = f"cuda:{distributed.local_rank()}"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device name; use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine "
                            f"(torch {torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                            f"CUDA device(s), numbered from 0")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UserError(f"--device {name}: MPS (Apple GPU) is not available on this machine; "
                            f"use --device cpu")
    elif device.type != "cpu":
        raise UserError(f"--device {name}: unsupported; use auto, cpu, cuda, cuda:N or mps")
    return device


def make_deterministic() -> None:
    """--deterministic: the same lines from two runs on one GPU, as on the CPU already.

    Every op must take its deterministic kernel (one that has none raises an error naming
    it), cuDNN must not pick kernels by timing them, and cuBLAS needs a fixed workspace,
    which it reads from the environment before CUDA starts.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a network to the device in channels_last (NHWC), the fast layout for convolutions."""
    return model.to(device=device, memory_format=torch.channels_last)


class Autocast(nn.Module):
    """--amp: the network's forward pass under bf16 autocast, its outputs back in fp32, so
    that the loss and everything after it is computed as without --amp."""

    def __init__(self, module: nn.Module, device_type: str) -> None:
        super().__init__()
        self.module, self.device_type = module, device_type

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
            output = self.module(x)
        if isinstance(output, tuple):  # a network with auxiliary heads
            return tuple(o.float() for o in output)
        return output.float()


def device_forward(model: nn.Module, device: torch.device, amp: bool) -> nn.Module:
    """What runs the forward pass: the network, under autocast with --amp (CPUs with AVX-512
    BF16 or AMX, and CUDA)."""
    return Autocast(model, device.type) if amp else model


def cpu_copy(model: nn.Module) -> nn.Module:
    """A CPU, fp32, eval-mode copy of the network, for exporters that trace it."""
    return copy.deepcopy(model).cpu().float().eval()
