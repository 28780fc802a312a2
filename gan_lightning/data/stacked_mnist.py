"""Stacked MNIST, the mode-collapse benchmark: three MNIST digits drawn independently, one per
colour channel, so 1,000 classes (000-999), each a thousandth of the data.

The digits are MNIST's train split (the embedded copy when no files are at hand); each epoch
draws its triples afresh from a generator seeded by (seed, epoch), so a resumed run sees the
triples an unbroken one would. Real images for scoring are stacked from the test split with a
fixed seed, the same for every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from gan_lightning.data.batches import ShuffledBatches
from gan_lightning.data.idx import read_idx_images
from gan_lightning.data.mnist import MNISTDataModule, labels_of
from gan_lightning.plumbing.errors import UserError

DIGIT_WEIGHTS = torch.tensor([100, 10, 1])  # channel 0 is the hundreds: triple (a, b, c) is class abc
REFERENCE_SEED = 0


def draw_triples(num_digits: int, count: int, seed: int) -> torch.Tensor:
    """(count, 3) indices of digits, each drawn independently and uniformly."""
    return torch.randint(num_digits, (count, 3), generator=torch.Generator().manual_seed(seed))


def stack(digits: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) digits and (B, 3) indices -> (B, 3, S, S): one digit per channel."""
    return digits[triples.to(digits.device), 0]


def triple_labels(digit_labels: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    """The class 0-999 of each stacked image: its three digits' labels read as a number."""
    return (digit_labels[triples.to(digit_labels.device)] * DIGIT_WEIGHTS.to(digit_labels.device)).sum(1)


class StackedBatches(ShuffledBatches):
    """Batches of stacked images, ``len(digits)`` of them an epoch, their triples drawn from a
    generator seeded by ``seed + epoch``; under DDP each rank takes every ``world_size``-th triple.
    Resumable as ``ShuffledBatches``: the position is the epoch and the batches consumed."""

    def __init__(
        self,
        digits: torch.Tensor,
        batch_size: int,
        seed: int,
        rank: int,
        world_size: int,
        digit_labels: torch.Tensor | None,
    ) -> None:
        super().__init__(digits, batch_size, seed, rank, world_size)
        self.digit_labels = digit_labels  # None: unconditional batches

    def triples(self, epoch: int) -> torch.Tensor:
        return draw_triples(len(self.images), len(self.images), self.seed + epoch)[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        triples = self.triples(self.epoch)
        for i in range(self.consumed, len(self)):
            chosen = triples[i * self.batch_size : (i + 1) * self.batch_size]
            images = stack(self.images, chosen)
            yield images if self.digit_labels is None else (images, triple_labels(self.digit_labels, chosen))


class StackedMNISTDataModule(MNISTDataModule):
    """MNIST digits stacked three to an image: 3 channels, 1,000 classes. Everything else (root,
    download, the embedded fallback, ``image_size``, ``limit`` on the digits) as MNIST's.

    ``reference_size``: how many stacked test images the scores compare with (the default,
    52,000, lets ``gan-eval`` take two disjoint sets of 26,000, as the benchmark counts)."""

    scored_by = "stacked_mnist"

    def __init__(self, *args, reference_size: int = 52000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.channels != 3:
            raise UserError(f"data.channels={self.channels}: Stacked MNIST has 3 channels, one digit each")
        if reference_size < 2:
            raise UserError(f"data.reference_size={reference_size}: must be at least 2")
        self.reference_size = reference_size
        self._reference: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return 1000

    def setup(self, stage: str | None = None) -> None:
        if self.train_batches is not None:
            return
        super().setup(stage)
        self.source = f"Stacked MNIST (three digits an image) from the {self.source}"

    def _to_model_shape(self, images: torch.Tensor, channels: int | None = None) -> torch.Tensor:
        """Digits stay one channel each: a batch stacks three of them."""
        return super()._to_model_shape(images, channels=1)

    def batches(self, images, step_batch, rank, world, labels) -> StackedBatches:  # noqa: ANN001 - as the base's
        return StackedBatches(images, step_batch, self.seed, rank, world, labels)

    def _stacked_reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._reference is None:
            path = self._test_file()
            if path is None:
                raise UserError(f"Stacked MNIST scores on MNIST's test split: none under {self.raw_dir}")
            digits = self._to_model_shape(read_idx_images(path))
            triples = draw_triples(len(digits), self.reference_size, REFERENCE_SEED)
            self._reference = stack(digits, triples), triple_labels(labels_of(path), triples)
        return self._reference

    def reference_images(self) -> torch.Tensor:
        """``reference_size`` images stacked from the test split, the same for every run."""
        return self._stacked_reference()[0]

    def reference_labels(self) -> torch.Tensor:
        return self._stacked_reference()[1]
