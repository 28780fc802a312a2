"""Any folder of images (CelebA's ``img_align_celeba`` among them), resized and center-cropped
once into a uint8 array that is memory-mapped from a cache file on later runs.

Decoding JPEGs every epoch is what limits DCGAN training on a GPU; after the first run this
module reads a ready array instead. Corrupt or unreadable images are skipped and counted in
one warning line; a folder with no readable image at all is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.sources import image_folder
from gan_lightning.plumbing.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_images(root: Path) -> list[Path]:
    """Every image file below ``root``, nested or flat, in a stable order."""
    image_folder(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        found = f"; it holds {len(files)} other files, e.g. {files[0]}" if files else ", it is empty"
        raise UserError(f"data.root={root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in or below it{found}")
    if len(images) < len(files):
        others = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
        log.info("Ignoring %d files that are not images, e.g. %s", len(others), others[0])
    return images


def folder_labels(root: Path, files: list[Path]) -> tuple[list[str], list[int]]:
    """Classes from first-level subfolder names, sorted, as torchvision's ImageFolder names
    them, and each file's class (-1 for a file directly in ``root``)."""
    firsts = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None for p in files]
    classes = sorted({name for name in firsts if name is not None})
    index = {name: i for i, name in enumerate(classes)}
    return classes, [index[name] if name is not None else -1 for name in firsts]


def load_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """Decode, convert to ``channels`` (grayscale, palette and RGBA included), resize the
    shorter side to ``image_size`` and center-crop: (C, S, S) uint8."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
    image = TF.center_crop(TF.resize(image, image_size), image_size)
    return np.asarray(image, dtype=np.uint8).reshape(image_size, image_size, channels).transpose(2, 0, 1)


class _Decode(Dataset):
    """Decodes one file; a failure comes back as a message, never as a worker's traceback."""

    def __init__(self, files: list[Path], image_size: int, channels: int) -> None:
        self.files, self.image_size, self.channels = files, image_size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str]:
        try:
            return i, load_image(self.files[i], self.image_size, self.channels), ""
        except Exception as err:  # corrupt, truncated, unreadable, not really an image
            return i, None, f"{type(err).__name__}: {err}"


def decode_all(
    files: list[Path], image_size: int, channels: int, out: np.ndarray, num_workers: int
) -> tuple[list[int], list[str]]:
    """Fill ``out`` with the decodable images in order; return which files they are and the
    failures."""
    loader = DataLoader(_Decode(files, image_size, channels), batch_size=64, num_workers=num_workers, collate_fn=list)
    kept, failures = [], []
    with tqdm(total=len(files), desc=f"Decoding images to {image_size}x{image_size}", unit="img") as bar:
        for batch in loader:
            for i, image, error in batch:
                if image is None:
                    failures.append(f"{files[i]}: {error}")
                else:
                    out[len(kept)] = image
                    kept.append(i)
            bar.update(len(batch))
    return kept, failures


class ImageFolderDataModule(ImageDataModule):
    """Images from ``root`` at ``image_size`` x ``image_size`` with ``channels`` channels.

    With ``cache`` (the default) the decoded array is written once to ``cache_dir``, keyed by
    the folder, the size, the channels and the file list (names, sizes, modification times),
    and memory-mapped by every later run and every DDP rank; a change to any of them builds a
    new one. At 64x64, CelebA's 202,599 images take about 2.5 GB. Without ``cache`` the images
    are decoded into memory on each run and nothing is written. ``conditional``: batches come
    with the class of each image, its first-level subfolder (a flat folder has none).
    """

    def __init__(
        self,
        root: str | None,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 128,
        cache: bool = True,
        cache_dir: str = "data/cache",
        num_workers: int = 2,
        seed: int = 0,
        on_device: bool = False,
        batches_per_step: int = 1,
        conditional: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__(batch_size, seed, on_device, batches_per_step, conditional, limit)
        image_folder(root)  # set, and a folder
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels}: must be 1 (grayscale) or 3 (RGB)")
        if image_size < 1:
            raise UserError(f"data.image_size={image_size}: must be positive")
        self.root = Path(root)
        self.image_size = image_size
        self.channels = channels
        self.cache = cache
        self.cache_dir = Path(cache_dir)
        self.num_workers = num_workers
        self._prepared: tuple[np.ndarray, dict] | None = None
        self._files: list[Path] | None = None

    def files(self) -> list[Path]:
        if self._files is None:
            self._files = list_images(self.root)
        return self._files

    def classes(self) -> list[str]:
        """The class names; for a conditional run, refuses a folder without one subfolder per class."""
        classes, labels = folder_labels(self.root, self.files())
        if self.conditional and (not classes or -1 in labels):
            loose = sum(label == -1 for label in labels)
            raise UserError(
                f"data.root={self.root}: a conditional run needs one subfolder per class, "
                + (f"and {loose} images lie outside them" if classes else "and this folder has none")
            )
        return classes

    @property
    def num_classes(self) -> int:
        return len(self.classes())

    def cache_paths(self, files: list[Path]) -> tuple[Path, Path]:
        stats = [(str(p.relative_to(self.root)), st.st_size, st.st_mtime_ns) for p in files for st in [p.stat()]]
        key = json.dumps(["v2", str(self.root.resolve()), self.image_size, self.channels, stats])
        stem = f"{self.root.resolve().name}-{self.image_size}px-{self.channels}ch-"
        stem += hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.cache_dir / f"{stem}.npy", self.cache_dir / f"{stem}.json"

    def prepare_data(self) -> None:
        if self.cache:  # built once, on one process per node, before any setup
            self._prepared = self._cached_images()

    def setup(self, stage: str | None = None) -> None:
        if self.train_batches is not None:
            return
        if self.cache:
            images, meta = self._prepared or self._cached_images()
        else:
            files = self.files()
            buffer = np.empty((len(files), self.channels, self.image_size, self.image_size), np.uint8)
            kept, failures = decode_all(files, self.image_size, self.channels, buffer, self.num_workers)
            images, meta = buffer[: len(kept)], self._meta(files, kept, failures)
        self._report(meta)
        self.source = f"image folder {self.root} ({meta['count']} images)"
        labels = torch.tensor(meta["labels"]) if self.conditional and self.classes() else None
        self.set_images(images, labels)

    def _meta(self, files: list[Path], kept: list[int], failures: list[str]) -> dict:
        classes, labels = folder_labels(self.root, files)
        labels = [labels[i] for i in kept]
        return {
            "root": str(self.root.resolve()),
            "count": len(kept),
            "failures": failures,
            "classes": classes,
            "labels": labels,
        }

    def _cached_images(self) -> tuple[np.ndarray, dict]:
        files = self.files()
        array_path, meta_path = self.cache_paths(files)
        if not meta_path.is_file():  # the metadata is written last: its presence means complete
            try:
                self._build_cache(files, array_path, meta_path)
            except OSError as err:
                raise UserError(
                    f"data.cache_dir={self.cache_dir}: cannot write the cache ({err}); "
                    "point data.cache_dir elsewhere or set data.cache=false"
                ) from err
        meta = json.loads(meta_path.read_text())
        return np.load(array_path, mmap_mode="r")[: meta["count"]], meta

    def _build_cache(self, files: list[Path], array_path: Path, meta_path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        shape = (len(files), self.channels, self.image_size, self.image_size)
        tmp = array_path.with_name(f".{array_path.name}.{os.getpid()}.tmp")
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        kept, failures = decode_all(files, self.image_size, self.channels, array, self.num_workers)
        array.flush()
        del array
        os.replace(tmp, array_path)
        meta = self._meta(files, kept, failures)
        meta_tmp = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
        meta_tmp.write_text(json.dumps(meta, indent=1))
        os.replace(meta_tmp, meta_path)
        log.info("Cached %d images at %s", meta["count"], array_path)

    def _report(self, meta: dict) -> None:
        failures = meta["failures"]
        if meta["count"] == 0:
            raise UserError(f"data.root={self.root}: none of its images could be decoded, e.g. {failures[0]}")
        if failures and (self.trainer is None or self.trainer.is_global_zero):
            log.warning(
                "Skipped %d of %d images that could not be decoded, e.g. %s",
                *(len(failures), meta["count"] + len(failures), failures[0]),
            )
