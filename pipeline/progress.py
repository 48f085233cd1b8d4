"""Where a run is and what it has: its position, the losses added up, the metrics so far, and
where an epoch is cut (a pure function of a few numbers)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Position:
    """How far a run is: `epoch` epochs finished and `batch` batches into the next one."""
    epoch: int
    batch: int = 0

    def epochs(self, num_batches: int) -> float:
        """In epochs: 2 after two epochs, 2.25 a quarter into the third."""
        if self.batch % num_batches == 0:
            return self.epoch + self.batch // num_batches
        return round(self.epoch + self.batch / num_batches, 2)


class LossSum:
    """Training losses added up, weighted by batch size: since a test pass, or an epoch."""

    def __init__(self, total: float = 0.0, seen: int = 0) -> None:
        self.total, self.seen = total, seen

    def add(self, total: float, seen: int) -> None:
        self.total += total
        self.seen += seen

    def mean(self) -> float:
        return self.total / self.seen

    def as_list(self) -> list[float]:  # as a checkpoint holds it
        return [self.total, self.seen]


def pieces(first: int, num_batches: int, log_interval: int,
           test_at: frozenset[int]) -> list[tuple[int, int]]:
    """Where an epoch is cut, from batch `first`: before each log line and at each test pass.

    pieces(0, 10, 4, {5, 10}) == [(0, 4), (4, 5), (5, 8), (8, 10)]"""
    cuts = set(range(log_interval, num_batches, log_interval)) | test_at | {num_batches}
    cuts = sorted(c for c in cuts if c > first)
    return list(zip([first] + cuts[:-1], cuts))


@dataclass
class Progress:
    """Where a run is and what it has: the state that changes between two pieces."""
    start: Position  # where this run began (a resumed run: the checkpoint's position)
    epoch: int  # the epoch being trained
    metrics: list[dict[str, float]]  # a row per test pass, a resumed run's earlier ones too
    saved: float = 0.0  # in epochs, what the file at --checkpoint holds; 0: nothing written
    step: int = 0  # batches trained at the last test pass (TensorBoard's step)
    reached: bool = False  # the target accuracy
    held: float = 0.0  # seconds the page held the run (a pause): not in its speed
    since: float = 0.0  # perf_counter at the last test pass (its "seconds" column)
    order_state: torch.Tensor | None = None  # the generator before this epoch's permutation
    epoch_loss: LossSum = field(default_factory=LossSum)
    test_loss: LossSum = field(default_factory=LossSum)  # since the last test pass

    @classmethod
    def of(cls, resumed: dict | None) -> Progress:
        """A run's progress as it begins: from scratch, or where the checkpoint left off."""
        start = Position(resumed["epoch"], resumed.get("batch", 0)) if resumed else Position(0)
        return cls(start, start.epoch + 1, list(resumed["metrics"]) if resumed else [])
