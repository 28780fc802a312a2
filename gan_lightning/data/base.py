"""What every data module here shares: uint8 images in memory (or memory-mapped), batched
by ``ShuffledBatches``, normalized to [-1, 1] on the training device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule

from gan_lightning.data.batches import ShuffledBatches
from gan_lightning.pixels import to_unit_range
from gan_lightning.plumbing.errors import UserError


class ImageDataModule(LightningDataModule):
    """Subclasses load (N, C, H, W) uint8 images in ``setup`` and pass them to ``set_images``.
    It offers ``protocols.ScoredData``: a subclass names its scorer (``scored_by``) and, with a
    held-out split, its own reference images and labels."""

    scored_by: str | None = None  # Inception, unless a data set names a classifier of its own

    def __init__(
        self,
        batch_size: int,
        seed: int,
        on_device: bool = False,
        batches_per_step: int = 1,
        conditional: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        self.limit = limit  # train on a subset of this many images: small-data studies
        self.conditional = conditional  # batches as (images, class labels)
        self.on_device = on_device
        if batch_size < 1:
            raise UserError(f"data.batch_size={batch_size}: must be at least 1")
        self.batch_size = batch_size
        # model.d_steps_per_g > 1: each step takes that many batches, one per D update, drawn
        # together so that an epoch is still one pass over the data.
        self.batches_per_step = batches_per_step
        self.seed = seed
        self.source = ""  # what the run really trains on; logged with the hyperparameters
        self.train_batches: ShuffledBatches | None = None

    @property
    def num_classes(self) -> int:
        """How many classes the data set's labels name (0: none)."""
        return 0

    def set_images(self, images: torch.Tensor | np.ndarray, labels: torch.Tensor | None = None) -> None:
        """Batch ``images`` from now on, with ``labels`` when the run is conditional; with
        ``limit``, a subset of that many, the same for every seed (drawn with seed 0, so runs
        of different seeds compare on the same images)."""
        labels = labels if self.conditional else None
        if self.limit and self.limit < len(images):
            subset = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[: self.limit].sort().values
            images = images[subset.numpy()] if isinstance(images, np.ndarray) else images[subset]
            labels = labels[subset] if labels is not None else None
            self.source += f", a subset of {self.limit}"
        if self.on_device and self.trainer is not None:
            # The whole uint8 set on the training device: batches are gathered there, nothing
            # crosses the bus per step. MNIST at 64x64 is 245 MB, CelebA at 64x64 2.5 GB.
            images = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
            images = images.to(self.trainer.strategy.root_device)
            labels = labels.to(images.device) if labels is not None else None
        # Under DDP each rank takes its own share of every epoch's order.
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        step_batch = self.batch_size * self.batches_per_step
        self.train_batches = self.batches(images, step_batch, rank, world, labels)
        if len(self.train_batches) == 0:
            share = f" ({len(images) // world} per process of {world})" if world > 1 else ""
            per_step = f" x {self.batches_per_step} batches a step" if self.batches_per_step > 1 else ""
            raise UserError(
                f"data.batch_size={self.batch_size}{per_step}: larger than the data set, {len(images)} images{share} "
                f"of {self.source or 'the data'}; not one batch to train on"
            )

    def batches(
        self, images: torch.Tensor | np.ndarray, step_batch: int, rank: int, world: int, labels: torch.Tensor | None
    ) -> ShuffledBatches:
        """The iterator of training batches over ``images``: each image once an epoch, in a
        seeded order; a data set that builds its examples otherwise returns its own."""
        return ShuffledBatches(images, step_batch, self.seed, rank, world, labels)

    def reference_images(self) -> torch.Tensor | np.ndarray:
        """The real (N, C, H, W) uint8 images sample quality is measured against: here the
        training images; data sets with a held-out split return that instead."""
        assert self.train_batches is not None, "setup() must run first"
        return self.train_batches.images

    def train_dataloader(self) -> ShuffledBatches:
        assert self.train_batches is not None, "setup() must run first"
        return self.train_batches

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training and self.train_batches is not None:
            self.train_batches.mark_consumed()
        return batch

    def reference_labels(self) -> torch.Tensor | None:
        """The class of each of ``reference_images()``, or None: per-class scores need them."""
        assert self.train_batches is not None, "setup() must run first"
        return self.train_batches.labels

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # uint8 [0, 255] -> float [-1, 1] on the device, matching the generator's Tanh range.
        if isinstance(batch, tuple | list):
            return to_unit_range(batch[0]), batch[1]
        return to_unit_range(batch)
