"""LightningDataModules and the in-memory batch iterator they share.

The names are imported on first use, so that ``gan_lightning.data.sources`` (path checks made
before torch is imported) does not pull in Lightning."""

from importlib import import_module
from typing import Any

_HOMES = {
    "ShuffledBatches": "gan_lightning.data.batches",
    "ImageFolderDataModule": "gan_lightning.data.image_folder",
    "FashionMNISTDataModule": "gan_lightning.data.mnist",
    "MNISTDataModule": "gan_lightning.data.mnist",
    "StackedMNISTDataModule": "gan_lightning.data.stacked_mnist",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
