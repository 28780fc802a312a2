"""The image-folder data module on a generated folder of mixed, partly broken images."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data import ImageFolderDataModule
from gan_lightning.data import image_folder as image_folder_module
from gan_lightning.plumbing.errors import UserError


def make_folder(root: Path, n: int = 12) -> Path:
    """Nested and flat jpg/png/webp files in RGB, grayscale, RGBA and palette modes, one
    corrupt file, one truncated JPEG and one text file."""
    rng = np.random.default_rng(0)
    (root / "nested" / "deeper").mkdir(parents=True)
    modes = ["RGB", "L", "RGBA", "P"]
    for i in range(n):
        height, width = (int(x) for x in rng.integers(40, 90, size=2))
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert(modes[i % 4])
        ext = "png" if image.mode in ("RGBA", "P") else ["jpg", "webp"][i % 2]
        folder = [root, root / "nested", root / "nested" / "deeper"][i % 3]
        image.save(folder / f"img{i:03d}.{ext}")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    full = root / "full.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    (root / "nested" / "truncated.jpg").write_bytes(full.read_bytes()[:300])
    full.unlink()
    (root / "notes.txt").write_text("not an image")
    return root


def datamodule(tmp_path: Path, **kwargs) -> ImageFolderDataModule:
    args = {"root": str(tmp_path / "faces"), "image_size": 32, "batch_size": 4}
    return ImageFolderDataModule(**{**args, "cache_dir": str(tmp_path / "cache"), **kwargs})


@pytest.fixture
def faces(tmp_path) -> Path:
    return make_folder(tmp_path / "faces")


@pytest.mark.parametrize("cache", [True, False])
def test_mixed_folder_gives_rgb_batches_and_skips_broken_files(tmp_path, faces, caplog, cache):
    dm = datamodule(tmp_path, cache=cache, num_workers=0)
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
        dm.setup("fit")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "Skipped 2 of 14 images" in warning and ("corrupt.png" in warning or "truncated.jpg" in warning)
    assert "(12 images)" in dm.source
    batches = list(dm.train_dataloader())
    assert len(batches) == 3 and all(b.shape == (4, 3, 32, 32) and b.dtype == torch.uint8 for b in batches)
    assert (tmp_path / "cache").exists() == cache


def test_grayscale_channels_and_center_crop(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    wide = np.zeros((40, 120, 3), dtype=np.uint8)
    wide[:, 40:80] = 255  # a white square in the middle of a black strip
    Image.fromarray(wide).save(root / "wide.png")
    dm = datamodule(tmp_path, channels=1, batch_size=1, cache=False, num_workers=0)
    dm.setup("fit")
    (batch,) = list(dm.train_dataloader())
    assert batch.shape == (1, 1, 32, 32)
    assert batch.float().mean() > 250  # the crop kept the middle, not the black ends


def test_cache_is_built_once_then_reused(tmp_path, faces, monkeypatch):
    datamodule(tmp_path, num_workers=0).setup("fit")
    (cache_file,) = (tmp_path / "cache").glob("*.npy")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image although the cache was ready")

    monkeypatch.setattr(image_folder_module, "load_image", no_decoding)
    dm = datamodule(tmp_path, num_workers=0)
    dm.setup("fit")
    assert len(dm.train_dataloader()) == 3
    assert isinstance(dm.train_batches.images, np.memmap)  # mapped, not read into memory
    assert list((tmp_path / "cache").glob("*.npy")) == [cache_file]


def test_cache_is_rebuilt_when_the_folder_changes(tmp_path, faces):
    datamodule(tmp_path, num_workers=0).setup("fit")
    Image.fromarray(np.zeros((50, 50, 3), dtype=np.uint8)).save(faces / "new.png")
    dm = datamodule(tmp_path, num_workers=0)
    dm.setup("fit")
    assert "(13 images)" in dm.source
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    datamodule(tmp_path, image_size=16, num_workers=0).setup("fit")  # another size, another cache
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def test_decoding_in_worker_processes_reports_failures_too(tmp_path, faces):
    dm = datamodule(tmp_path, num_workers=2)
    dm.setup("fit")
    assert "(12 images)" in dm.source


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.mkdir(), "it is empty"),
        (lambda root: (root.mkdir(), (root / "a.txt").write_text("x")), "a.txt"),
        (lambda root: (root.mkdir(), (root / "bad.jpg").write_bytes(b"nope")), "none of its images could be"),
    ],
    ids=["missing", "empty", "no-images", "all-corrupt"],
)
def test_bad_folders_get_one_clear_error(tmp_path, setup, message):
    setup(tmp_path / "faces")
    with pytest.raises(UserError, match=message) as err:
        datamodule(tmp_path, num_workers=0).setup("fit")
    assert "\n" not in str(err.value) and "faces" in str(err.value)


def test_an_unwritable_cache_dir_is_one_clear_error(tmp_path, faces):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(UserError, match="data.cache_dir=.*cache: cannot write the cache"):
        datamodule(tmp_path, num_workers=0).setup("fit")
