import gzip
import logging
from pathlib import Path

import pytest
import torch

from gan_lightning.data import FashionMNISTDataModule, MNISTDataModule, ShuffledBatches
from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.idx import read_idx_images, read_idx_labels
from gan_lightning.data.mnist import EMBEDDED
from gan_lightning.plumbing.errors import UserError
from gan_lightning.protocols import ScoredData

EMBEDDED_MNIST = EMBEDDED / "t10k-images-idx3-ubyte.gz"


@pytest.mark.parametrize("split, count", [("train", 60000), ("t10k", 10000)])
def test_the_package_ships_both_mnist_splits_with_labels(split, count):
    images = read_idx_images(EMBEDDED / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx_labels(EMBEDDED / f"{split}-labels-idx1-ubyte.gz")
    assert images.shape == (count, 28, 28) and images.dtype == torch.uint8 and labels.shape == (count,)
    assert 30 < images.float().mean() < 40  # MNIST's mean pixel is about 33
    shares = torch.bincount(labels, minlength=10) / count
    assert shares.min() > 0.08 and shares.max() < 0.12  # ten digits, about a tenth each


def test_the_shipped_splits_are_the_original_files(mnist_root):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        shipped = gzip.decompress((EMBEDDED / f"{name}.gz").read_bytes())
        assert shipped == (mnist_root / "MNIST" / "raw" / name).read_bytes(), name


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    data = gzip.decompress(EMBEDDED_MNIST.read_bytes())
    (tmp_path / "cut-idx3-ubyte").write_bytes(data[:5000])
    with pytest.raises(ValueError, match="truncated"):
        read_idx_images(tmp_path / "cut-idx3-ubyte")
    (tmp_path / "notes-idx3-ubyte").write_bytes(b"hello, not an idx file")
    with pytest.raises(ValueError, match="bad header"):
        read_idx_images(tmp_path / "notes-idx3-ubyte")


def test_batches_are_seeded_full_and_cover_an_epoch():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    batches = ShuffledBatches(images, batch_size=32, seed=3)
    first = [b.flatten().tolist() for b in batches]
    assert len(first) == len(batches) == 3 and all(len(b) == 32 for b in first)
    assert len(set(sum(first, []))) == 96  # no image twice in an epoch
    again = [b.flatten().tolist() for b in ShuffledBatches(images, 32, seed=3)]
    assert again == first
    assert [b.flatten().tolist() for b in ShuffledBatches(images, 32, seed=4)] != first


def test_batches_resume_mid_epoch_from_consumed_count():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    straight = ShuffledBatches(images, 10, seed=0)
    order = []
    for _ in range(2):  # two epochs, each in its own order
        for batch in straight:
            straight.mark_consumed()
            order.append(batch.flatten().tolist())
    assert order[:10] != order[10:]

    first = ShuffledBatches(images, 10, seed=0)
    it = iter(first)
    for _ in range(4):
        next(it)
        first.mark_consumed()
    next(it)  # prefetched by the loop but never trained on: must not count
    resumed = ShuffledBatches(images, 10, seed=0)
    resumed.load_state_dict(first.state_dict())
    tail = []
    for _ in range(2):
        for batch in resumed:
            resumed.mark_consumed()
            tail.append(batch.flatten().tolist())
    assert tail == order[4:]


def test_batches_split_disjointly_across_ranks():
    images = torch.arange(64, dtype=torch.uint8).view(64, 1, 1, 1)
    seen = [
        sum((b.flatten().tolist() for b in ShuffledBatches(images, 8, seed=1, rank=r, world_size=2)), [])
        for r in range(2)
    ]
    assert len(seen[0]) == len(seen[1]) == 32 and not set(seen[0]) & set(seen[1])


def test_datamodule_falls_back_to_the_embedded_mnist_with_one_warning(tmp_path, caplog):
    dm = MNISTDataModule(default_root=str(tmp_path), batch_size=50, download=False, conditional=True)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert "training on the embedded MNIST training split (60000 images)" in warnings[0].getMessage()
    assert "scored against its test split" in warnings[0].getMessage()
    # The 60,000 training images with their labels; scored against the 10,000 test images.
    assert len(dm.train_dataloader()) == 1200 and dm.train_batches.labels.shape == (60000,)
    assert dm.reference_images().shape == (10000, 1, 28, 28) and dm.reference_labels().shape == (10000,)
    assert torch.equal(dm.train_batches.images[:, 0], read_idx_images(EMBEDDED / "train-images-idx3-ubyte.gz"))


def test_data_limit_trains_on_a_fixed_subset(tmp_path):
    subsets = []
    for seed in (0, 1):
        dm = MNISTDataModule(default_root=str(tmp_path), batch_size=50, download=False, seed=seed, limit=2000)
        dm.setup("fit")
        subsets.append(dm.train_batches.images)
        assert len(dm.train_dataloader()) == 40 and dm.source.endswith("a subset of 2000")
    assert torch.equal(*subsets)  # the same images for every seed


def test_datamodule_batches_are_normalized_on_transfer(tmp_path):
    dm = MNISTDataModule(default_root=str(tmp_path), batch_size=16, download=False, image_size=32, channels=3)
    dm.setup("fit")
    raw = next(iter(dm.train_dataloader()))
    assert raw.dtype == torch.uint8 and raw.shape == (16, 3, 32, 32)
    batch = dm.on_after_batch_transfer(raw, 0)
    assert batch.dtype == torch.float32
    assert batch.min() == -1.0 and batch.max() <= 1.0 and batch.max() > 0.9


def test_datamodule_reads_full_mnist(mnist_root):
    dm = MNISTDataModule(root=str(mnist_root), batch_size=64, download=False)
    dm.setup("fit")
    assert dm.source.startswith("MNIST train split (60000 images")
    assert len(dm.train_dataloader()) == 60000 // 64


def test_datamodule_downloads_missing_files_when_it_can(tmp_path, monkeypatch):
    import torchvision.datasets

    # A stand-in for torchvision's download (no network here): it leaves what torchvision
    # leaves on disk, the images file, for the data module to find.
    def fake_download(root, train, download):
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(EMBEDDED_MNIST.read_bytes())

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    dm = MNISTDataModule(root=str(tmp_path), download=True)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.source.startswith("MNIST train split")


def test_datamodule_says_when_the_download_failed(tmp_path, monkeypatch, caplog):
    import torchvision.datasets

    def no_network(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nName or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    dm = MNISTDataModule(default_root=str(tmp_path), download=True)
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
        dm.setup("fit")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "download failed" in warning and "embedded MNIST training split (60000 images)" in warning


def test_a_root_the_user_gave_must_hold_the_data_and_a_failed_download_leaves_nothing(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_network(root, train, download):
        (Path(root) / "MNIST" / "raw").mkdir(parents=True)  # torchvision makes its folders first
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nName or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    typo = tmp_path / "nonexistnt"
    dm = MNISTDataModule(root=str(typo), download=True)
    dm.prepare_data()
    with pytest.raises(UserError, match=f"MNIST not found under {typo}/MNIST/raw and the download failed"):
        dm.setup("fit")  # no quiet fall-back to the embedded split for a root the user typed
    assert not typo.exists()


def test_a_batch_larger_than_the_data_set_is_refused(tmp_path):
    dm = MNISTDataModule(default_root=str(tmp_path), batch_size=2000, download=False, limit=1000)
    with pytest.raises(UserError, match="data.batch_size=2000: larger than the data set, 1000 images"):
        dm.setup("fit")


def test_fashion_mnist_reads_its_own_folder_and_has_no_fallback(tmp_path):
    dm = FashionMNISTDataModule(root=str(tmp_path), download=False)
    with pytest.raises(UserError, match="FashionMNIST not found under"):
        dm.setup("fit")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(EMBEDDED_MNIST.read_bytes())
    dm.setup("fit")
    assert dm.source.startswith("FashionMNIST train split (10000 images")


class MirroredDigits(ImageDataModule):
    """A new data set as a user writes one: MNIST's test digits mirrored, scored by the shipped
    digit classifier. Nothing else in the package knows of it."""

    scored_by = "mnist"

    def __init__(self, batch_size: int = 64, seed: int = 0, conditional: bool = False, **unused: object) -> None:
        super().__init__(batch_size, seed, conditional=conditional)

    @property
    def num_classes(self) -> int:
        return 10

    def setup(self, stage: str | None = None) -> None:
        images = read_idx_images(EMBEDDED / "t10k-images-idx3-ubyte.gz")[:2000].flip(-1).unsqueeze(1)
        self.set_images(images, read_idx_labels(EMBEDDED / "t10k-labels-idx1-ubyte.gz")[:2000])


def test_the_data_modules_keep_the_contract(tmp_path):
    """What the model and the scores need of a data set; a new one trained and scored with no
    edit elsewhere is docs/extending.md's recipe, run by tests/test_recipes.py."""
    for module in (MirroredDigits(), MNISTDataModule(default_root=str(tmp_path)), FashionMNISTDataModule()):
        assert isinstance(module, ScoredData)
