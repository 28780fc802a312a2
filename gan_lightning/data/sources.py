"""Where each data module looks for its files: path checks that need no torch, so that a
mistyped ``data.root`` answers before Lightning is imported. The data modules make the same
checks with the same functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from gan_lightning.plumbing.errors import UserError

TRAIN_IMAGES = "train-images-idx3-ubyte"


def find_file(raw_dir: Path, name: str) -> Path | None:
    """The IDX file ``name`` in ``raw_dir``, extracted or gzipped, if present."""
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def image_folder(root: str | Path | None) -> Path:
    """The folder of an image-folder data set, refused when unset or absent."""
    if not root:
        raise UserError("data.root is not set: pass the folder of images, e.g. data.root=/datasets/faces")
    if not Path(root).is_dir():
        raise UserError(f"data.root={root}: no such folder")
    return Path(root)


def why_absent(download: bool) -> str:
    """Why files looked for are not there: the end of a "not found under ..." phrase."""
    return " and the download failed" if download else " (data.download=false)"


def missing_idx_data(dataset_name: str, raw_dir: Path, download: bool) -> UserError:
    return UserError(
        f"{dataset_name} not found under {raw_dir}{why_absent(download)}; put "
        f"{TRAIN_IMAGES}[.gz] there or set data.root to the folder holding {dataset_name}/"
    )


def _idx_data_set(dataset_name: str, embedded: bool) -> Callable[[DictConfig], None]:
    def check(data: DictConfig) -> None:
        root = data.get("root")
        if data.get("download", True) or (embedded and root is None):
            return  # a download, or the embedded split, may yet provide it
        raw_dir = Path(root or data.get("default_root", "data")) / dataset_name / "raw"
        if find_file(raw_dir, TRAIN_IMAGES) is None:
            raise missing_idx_data(dataset_name, raw_dir, download=False)

    return check


def _image_folder_data_set(data: DictConfig) -> None:
    image_folder(data.get("root"))


# The check of each data module, by class name (the last part of ``data._target_``).
CHECKS: dict[str, Callable[[DictConfig], None]] = {
    "ImageFolderDataModule": _image_folder_data_set,
    "MNISTDataModule": _idx_data_set("MNIST", embedded=True),
    "FashionMNISTDataModule": _idx_data_set("FashionMNIST", embedded=False),
    "StackedMNISTDataModule": _idx_data_set("MNIST", embedded=True),
}


def check_source(data: DictConfig) -> None:
    """Refuse a data config whose files are certainly not where it points."""
    check = CHECKS.get(str(data.get("_target_", "")).rsplit(".", 1)[-1])
    if check is not None:
        check(data)
