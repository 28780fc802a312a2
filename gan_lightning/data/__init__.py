"""LightningDataModules and the in-memory batch iterator they share."""

from gan_lightning.data.batches import ShuffledBatches
from gan_lightning.data.image_folder import ImageFolderDataModule
from gan_lightning.data.mnist import FashionMNISTDataModule, MNISTDataModule

__all__ = ["FashionMNISTDataModule", "ImageFolderDataModule", "MNISTDataModule", "ShuffledBatches"]
