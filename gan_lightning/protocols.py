"""The contracts between the parts, written down. A data module that offers ``ScoredData`` is
trained and scored with no edit elsewhere: its module, its config and its experiment are all a
new data set needs. ``ImageDataModule`` (``data/base.py``) offers it to its subclasses.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class ScoredData(Protocol):
    """What a data module offers the model and the scores."""

    # The key of the feature network that scores this data in the metrics registry
    # (``mnist``, ``fashionmnist``, ``stacked_mnist``); None: Inception, for any RGB data. Its own
    # key, apart from the torchvision class or folder the images come from.
    scored_by: str | None

    @property
    def num_classes(self) -> int:
        """How many classes its labels name; 0: none (an unconditional data set)."""
        ...

    def reference_images(self) -> torch.Tensor | np.ndarray:
        """The real (N, C, H, W) uint8 images that generated ones are scored against."""
        ...

    def reference_labels(self) -> torch.Tensor | None:
        """The class of each reference image, or None: per-class scores need them."""
        ...


@runtime_checkable
class Scorer(Protocol):
    """What the sample-quality callback offers the other callbacks: which epoch the logged
    ``val/*`` belong to (None before the first scoring)."""

    scored_epoch: int | None


def scored_epoch(trainer: Any) -> int | None:
    """The epoch of the ``val/*`` scores logged so far, as the run's scorer says; None if none."""
    return next((cb.scored_epoch for cb in trainer.callbacks if isinstance(cb, Scorer)), None)
