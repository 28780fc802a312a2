"""MNIST (and FashionMNIST, the same file format) decoded once into memory.

Images stay uint8 in host memory; each batch crosses to the device as uint8 and becomes
float in [-1, 1] there (``on_after_batch_transfer``), so there is no per-sample PIL work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule

from gan_lightning.data.batches import ShuffledBatches
from gan_lightning.data.idx import read_idx_images

log = logging.getLogger(__name__)

EMBEDDED_DIR = Path(__file__).parent / "embedded"
TRAIN_IMAGES = "train-images-idx3-ubyte"
EMBEDDED_IMAGES = EMBEDDED_DIR / "t10k-images-idx3-ubyte.gz"


def find_file(raw_dir: Path, name: str) -> Path | None:
    """The IDX file ``name`` in ``raw_dir``, extracted or gzipped, if present."""
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


class MNISTDataModule(LightningDataModule):
    """The MNIST train split from ``<root>/MNIST/raw``, else the embedded 10k test split.

    Missing files are downloaded with torchvision when ``download`` is set and the network
    allows. When neither works, training goes on with the test split shipped in the package,
    with a one-line warning; ``source`` names what was used and is logged with the run.
    """

    dataset_name = "MNIST"

    def __init__(
        self,
        root: str = "data",
        batch_size: int = 64,
        image_size: int = 28,
        channels: int = 1,
        download: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"data.channels must be 1 or 3 for {self.dataset_name}, got {channels}")
        self.root = Path(root)
        self.batch_size = batch_size
        self.image_size = image_size
        self.channels = channels
        self.download = download
        self.seed = seed
        self.source = ""
        self.train_batches: ShuffledBatches | None = None

    @property
    def raw_dir(self) -> Path:
        return self.root / self.dataset_name / "raw"

    def prepare_data(self) -> None:
        if find_file(self.raw_dir, TRAIN_IMAGES) or not self.download:
            return
        import torchvision.datasets

        try:
            getattr(torchvision.datasets, self.dataset_name)(str(self.root), train=True, download=True)
        except Exception as err:  # no network, a mirror down, a read-only root: all mean "use embedded"
            log.debug("download of %s failed: %s", self.dataset_name, err)

    def setup(self, stage: str | None = None) -> None:
        if self.train_batches is not None:
            return
        path = find_file(self.raw_dir, TRAIN_IMAGES)
        images = read_idx_images(path or EMBEDDED_IMAGES)
        if path is None:
            self.source = f"embedded {self.dataset_name} test split ({len(images)} images)"
            self._warn_embedded()
        else:
            self.source = f"{self.dataset_name} train split ({len(images)} images, {path})"
        images = self._to_model_shape(images)
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        self.train_batches = ShuffledBatches(images, self.batch_size, self.seed, rank, world)

    def _warn_embedded(self) -> None:
        if self.trainer is not None and not self.trainer.is_global_zero:
            return
        log.warning(
            "%s not found under %s%s; training on the %s. Set data.root to a folder holding "
            "%s/raw/%s for the full set.",
            self.dataset_name,
            self.raw_dir,
            " and the download failed" if self.download else " (data.download=false)",
            self.source,
            self.dataset_name,
            TRAIN_IMAGES,
        )

    def _to_model_shape(self, images: torch.Tensor) -> torch.Tensor:
        """(N, H, W) uint8 -> (N, C, S, S) uint8, resized once here rather than every batch."""
        images = images.unsqueeze(1)
        if images.shape[-1] != self.image_size:
            resized = [
                F.interpolate(chunk.float(), size=self.image_size, mode="bilinear", antialias=True)
                for chunk in images.split(4096)
            ]
            images = torch.cat(resized).round_().clamp_(0, 255).to(torch.uint8)
        return images.expand(-1, self.channels, -1, -1).contiguous()

    def train_dataloader(self) -> ShuffledBatches:
        assert self.train_batches is not None, "setup() must run first"
        return self.train_batches

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training and self.train_batches is not None:
            self.train_batches.mark_consumed()
        return batch

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        # uint8 [0, 255] -> float [-1, 1] on the device, matching the generator's Tanh range.
        return batch.float().div_(127.5).sub_(1.0)
