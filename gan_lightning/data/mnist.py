"""MNIST and FashionMNIST (the same IDX file format), decoded once into memory."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.idx import read_idx_images, read_idx_labels
from gan_lightning.data.sources import TRAIN_IMAGES, find_file, missing_idx_data, why_absent
from gan_lightning.plumbing.errors import UserError

log = logging.getLogger(__name__)

TEST_IMAGES = "t10k-images-idx3-ubyte"
# The full MNIST ships in the package (gzipped IDX files, 11 MB): a run with no network trains on
# its training split and is scored against its test split, as with a downloaded copy.
EMBEDDED = Path(__file__).parent / "embedded"


def labels_of(images_file: Path) -> torch.Tensor:
    """The labels file beside an images file (``*-images-idx3-ubyte`` -> ``*-labels-idx1-ubyte``)."""
    name = images_file.name.replace("images-idx3", "labels-idx1")
    path = find_file(images_file.parent, name.removesuffix(".gz"))
    if path is None:
        raise UserError(
            f"model.conditional=true needs the labels: no {name.removesuffix('.gz')}[.gz] beside {images_file}"
        )
    return read_idx_labels(path)


def resize_digits(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, H, W) uint8 -> (N, 1, size, size) uint8, bilinear with antialiasing, chunk by chunk
    back to uint8, so no float copy of the whole set is ever held."""
    if images.shape[-1] == size:
        return images
    resized = [
        F.interpolate(chunk.float(), size=size, mode="bilinear", antialias=True).round_().clamp_(0, 255).to(torch.uint8)
        for chunk in images.split(4096)
    ]
    return torch.cat(resized)


class MNISTDataModule(ImageDataModule):
    """The MNIST train split from ``<root>/MNIST/raw``.

    Missing files are downloaded with torchvision when ``download`` is set and the network
    allows; a failed download leaves no folder behind. ``conditional``: batches come with the
    digits' labels, from the labels file beside the images (the embedded split ships its own). ``root`` left unset means
    ``default_root``, and only there, when neither the files nor a download are at hand, does
    training go on with the MNIST shipped in the package, with a one-line warning: a root the
    user typed must hold the data. ``image_size`` other than 28 resizes once, in memory.
    """

    dataset_name = "MNIST"  # torchvision's class, and the folder under data.root
    scored_by = "mnist"  # the feature network of its scores (gan_lightning/metrics/weights/mnist.pt)
    embedded: Path | None = EMBEDDED / f"{TRAIN_IMAGES}.gz"
    embedded_test: Path | None = EMBEDDED / f"{TEST_IMAGES}.gz"

    def __init__(
        self,
        root: str | None = None,
        default_root: str = "data",
        batch_size: int = 64,
        image_size: int = 28,
        channels: int = 1,
        download: bool = True,
        seed: int = 0,
        on_device: bool = False,
        batches_per_step: int = 1,
        conditional: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed, on_device, batches_per_step, conditional, limit)
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels}: {self.dataset_name} can be given 1 or 3 channels")
        self.root = Path(root or default_root)
        self.fallback = self.embedded if root is None else None  # only where the user did not point
        self.image_size = image_size
        self.channels = channels
        self.download = download

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def raw_dir(self) -> Path:
        return self.root / self.dataset_name / "raw"

    def prepare_data(self) -> None:
        if find_file(self.raw_dir, TRAIN_IMAGES) or not self.download:
            return
        import torchvision.datasets

        created = next((p for p in reversed([self.raw_dir, *self.raw_dir.parents]) if not p.exists()), None)
        try:
            getattr(torchvision.datasets, self.dataset_name)(str(self.root), train=True, download=True)
        except Exception as err:  # no network, a mirror down, a read-only root: setup() reports it
            log.debug("download of %s failed: %s", self.dataset_name, err)
            if created is not None:  # only a download that succeeds may leave folders behind
                shutil.rmtree(created, ignore_errors=True)

    def setup(self, stage: str | None = None) -> None:
        if self.train_batches is not None:
            return
        path = find_file(self.raw_dir, TRAIN_IMAGES)
        if path is None and self.fallback is None:
            raise missing_idx_data(self.dataset_name, self.raw_dir, self.download)
        images_file = path or self.fallback
        images = read_idx_images(images_file)
        if path is None:
            self.source = f"embedded {self.dataset_name} training split ({len(images)} images)"
            if self.trainer is None or self.trainer.is_global_zero:
                log.warning(
                    "%s not found under %s (the default data.root)%s; training on the %s shipped in the "
                    "package, scored against its test split. Set data.root to a folder holding %s/raw/%s "
                    "to use your own copy.",
                    *(self.dataset_name, self.raw_dir, why_absent(self.download), self.source),
                    *(self.dataset_name, TRAIN_IMAGES),
                )
        else:
            self.source = f"{self.dataset_name} train split ({len(images)} images, {path})"
        self.set_images(self._to_model_shape(images), labels_of(images_file) if self.conditional else None)

    def _test_file(self) -> Path | None:
        return find_file(self.raw_dir, TEST_IMAGES) or self.embedded_test

    def reference_images(self) -> torch.Tensor:
        """The test split (10,000 images; for MNIST the embedded copy when the files are absent),
        at the model's size; without it, the training images."""
        path = self._test_file()
        return self._to_model_shape(read_idx_images(path)) if path else super().reference_images()

    def reference_labels(self) -> torch.Tensor | None:
        path = self._test_file()
        return labels_of(path) if path else super().reference_labels()

    def _to_model_shape(self, images: torch.Tensor, channels: int | None = None) -> torch.Tensor:
        """(N, H, W) uint8 -> (N, C, S, S) uint8, resized once here rather than every batch;
        C is ``data.channels`` unless ``channels`` says otherwise."""
        images = resize_digits(images.unsqueeze(1), self.image_size)
        return images.expand(-1, channels or self.channels, -1, -1).contiguous()


class FashionMNISTDataModule(MNISTDataModule):
    """FashionMNIST from ``<root>/FashionMNIST/raw``; no embedded copy, so missing is an error."""

    dataset_name = "FashionMNIST"
    scored_by = "fashionmnist"  # no classifier ships for it: train one (docs/sample_quality.md)
    embedded = embedded_test = None
