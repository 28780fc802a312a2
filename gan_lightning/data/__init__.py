"""LightningDataModules and the in-memory batch iterator they share."""

from gan_lightning.data.batches import ShuffledBatches
from gan_lightning.data.mnist import MNISTDataModule

__all__ = ["MNISTDataModule", "ShuffledBatches"]
