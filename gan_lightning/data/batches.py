"""Seeded, resumable batches drawn from an in-memory uint8 image tensor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


class ShuffledBatches:
    """Iterates full batches of ``images`` (a uint8 tensor, or a numpy array that may be
    memory-mapped) in a fresh seeded order each epoch; with ``labels``, (images, labels) pairs
    in the same order, so labelled and unlabelled runs see the same images.

    The order depends only on ``(seed, epoch)``, so a run resumed mid-epoch sees exactly the
    batches an uninterrupted run would. Lightning prefetches one batch ahead, so the position
    saved in a checkpoint is the count of batches *consumed* by training (``mark_consumed``),
    not the count this iterator has yielded. Under DDP each rank takes every
    ``world_size``-th image of the shared order, so ranks never see the same image in an epoch.
    """

    def __init__(
        self,
        images: torch.Tensor | np.ndarray,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        labels: torch.Tensor | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.consumed = 0  # batches of the current epoch already used by training

    def __len__(self) -> int:
        # Drop the ragged last batch: BatchNorm statistics from a tiny batch are noise.
        return len(self.images) // self.world_size // self.batch_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        order = order[self.rank :: self.world_size]
        for i in range(self.consumed, len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            if isinstance(self.images, np.ndarray):
                # Sorted reads are sequential reads of a memory-mapped file; order within a
                # batch does not matter to training.
                index = torch.from_numpy(np.sort(index.numpy()))
                images = torch.from_numpy(self.images[index.numpy()])
            else:
                images = self.images[index.to(self.images.device)]
            yield images if self.labels is None else (images, self.labels[index.to(self.labels.device)])

    def mark_consumed(self) -> None:
        self.consumed += 1
        if self.consumed >= len(self):
            self.epoch, self.consumed = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])
