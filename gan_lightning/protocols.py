"""The contracts between the parts, written down. A network that is a ``Generator`` or a
``Discriminator``, and a data module that offers ``ScoredData``, train and are scored with no
edit elsewhere: a module and a config are all they need (docs/extending.md).
``ImageDataModule`` (``data/base.py``) offers ``ScoredData`` to its subclasses.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Generator(Protocol):
    """What every generator receives and returns; a network of your own only needs this.

    Built from its config node (``model.generator``) with ``num_classes`` added for a
    conditional run: the shipped nodes pass ``latent_dim``, ``channels`` and ``image_size``
    (``${model.latent_dim}``, ``${data.channels}``, ``${data.image_size}``) and options of that
    network's own (``bn_eps``, ``base_width``), which a node of your own leaves out
    (docs/extending.md)."""

    def __call__(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, latent_dim) noise (and (N,) class labels, conditional runs) -> (N, C, H, W) images
        in [-1, 1] (a Tanh output)."""
        ...


@runtime_checkable
class Discriminator(Protocol):
    """What every discriminator receives and returns. Built from ``model.discriminator``
    (``channels``, ``image_size``; ``num_classes`` for a conditional run). The loss, spectral
    normalization, augmentation and penalties are the module's: the network is a plain one."""

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) images in [-1, 1] (and (N,) labels) -> (N,) raw scores (logits, no sigmoid)."""
        ...


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
