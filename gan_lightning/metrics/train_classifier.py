"""Train the frozen classifier that FID, KID and IS use for MNIST-like data.

    python -m gan_lightning.metrics.train_classifier --data-root data                   # MNIST
    python -m gan_lightning.metrics.train_classifier --data-root data --dataset FashionMNIST
    python -m gan_lightning.metrics.train_classifier --data-root data --image-size 32   # mnist32.pt

Reads ``<data-root>/<dataset>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``, trains
on the train split with a fixed seed (two epochs, about a minute on a laptop CPU), reports
the test-split accuracy and writes ``gan_lightning/metrics/weights/<dataset>.pt`` (or --out).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.data.idx import read_idx_images, read_idx_labels
from gan_lightning.data.mnist import resize_digits
from gan_lightning.data.sources import find_file
from gan_lightning.metrics.classifier import WEIGHTS_DIR, DigitClassifier
from gan_lightning.pixels import to_unit_range
from gan_lightning.plumbing.errors import ArgumentParser, UserError, command


class ClassifierTraining(LightningModule):
    def __init__(self, lr: float, epochs: int, steps_per_epoch: int, image_size: int = 28) -> None:
        super().__init__()
        self.classifier = DigitClassifier(input_size=image_size)
        self.lr, self.total_steps = lr, epochs * steps_per_epoch

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self.classifier(images), labels)
        self.log("loss", loss, prog_bar=True)
        return loss

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        accuracy = (self.classifier(images).argmax(1) == labels).float().mean()
        self.log("test_accuracy", accuracy, prog_bar=True)

    def configure_optimizers(self):  # noqa: ANN201 - Lightning's optimizer-and-scheduler dict
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        # One-cycle: reaches ~99% in two epochs where a constant lr needs more.
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=self.total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def load_split(raw_dir: Path, split: str, image_size: int = 28) -> TensorDataset:
    """Images in [-1, 1] as (N, 1, S, S) floats (resized as the data modules resize them), with
    their labels."""
    files = [find_file(raw_dir, f"{split}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    if None in files:
        raise UserError(f"{raw_dir}: needs {split}-images-idx3-ubyte and {split}-labels-idx1-ubyte (.gz or not)")
    images = to_unit_range(resize_digits(read_idx_images(files[0]).unsqueeze(1), image_size))
    return TensorDataset(images, read_idx_labels(files[1]))


def train_classifier(
    raw_dir: Path, out: Path, epochs: int = 2, seed: int = 0, lr: float = 3e-3, image_size: int = 28
) -> float:
    """Train, write the weights to ``out`` and return the test accuracy."""
    train_set, test_set = load_split(raw_dir, "train", image_size), load_split(raw_dir, "t10k", image_size)
    seed_everything(seed, workers=True)
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(seed))
    module = ClassifierTraining(lr, epochs, len(train_loader), image_size)
    trainer = Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_loader)
    (result,) = trainer.test(module, DataLoader(test_set, batch_size=1000), verbose=False)
    accuracy = result["test_accuracy"]
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "state_dict": module.classifier.state_dict(),
        "num_classes": 10,
        "input_size": image_size,
        "test_accuracy": accuracy,
        "trained_on": f"{raw_dir.parent.name} train split at {image_size}x{image_size}, {epochs} epochs, seed {seed}",
    }
    torch.save(saved, out)
    return accuracy


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(__doc__)
    parser.add_argument("--data-root", required=True, help="folder holding <dataset>/raw/")
    parser.add_argument("--dataset", default="MNIST", choices=["MNIST", "FashionMNIST"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--image-size", type=int, default=28, help="digits resized to this, as data.image_size does (default 28)"
    )
    parser.add_argument("--out", help="weights file (default: the package's weights/<dataset>[<size>].pt)")
    args = parser.parse_args(argv)
    if args.image_size < 8:
        raise UserError(f"--image-size {args.image_size}: at least 8")
    size = "" if args.image_size == 28 else str(args.image_size)
    out = Path(args.out) if args.out else WEIGHTS_DIR / f"{args.dataset.lower()}{size}.pt"
    start = time.perf_counter()
    raw_dir = Path(args.data_root) / args.dataset / "raw"
    accuracy = train_classifier(raw_dir, out, args.epochs, args.seed, image_size=args.image_size)
    print(
        f"test accuracy {accuracy:.4f}; {time.perf_counter() - start:.0f} s; wrote {out} ({out.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
