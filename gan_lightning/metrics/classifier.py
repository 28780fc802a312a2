"""The small digit classifier whose features score MNIST-like samples (FID, KID, IS).

Inception-v3 is trained on photographs, and its weights cannot be fetched offline; a
classifier trained on the data set itself is the usual substitute for digits. Its
penultimate activations (128 numbers) give FID and KID, its logits give IS. Weights ship
in ``weights/<name>.pt``, written by ``python -m gan_lightning.metrics.train_classifier``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_lightning.plumbing.errors import UserError
from gan_lightning.plumbing.paths import CLASSIFIER_WEIGHTS as WEIGHTS_DIR
from gan_lightning.plumbing.paths import shipped_classifiers

INPUT_SIZE = 28


class DigitClassifier(nn.Module):
    """Three conv blocks and global average pooling: grayscale in [-1, 1], ``input_size`` square
    (28: MNIST's own; 32: digits resized as the data modules resize them) -> 10 logits."""

    num_features = 128

    def __init__(self, num_classes: int = 10, input_size: int = INPUT_SIZE) -> None:
        super().__init__()
        self.input_size = input_size

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(1, 16),
            nn.MaxPool2d(2),
            *block(16, 32),
            nn.MaxPool2d(2),
            *block(32, self.num_features),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(self.num_features, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def to_classifier_input(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Any (N, C, H, W) float images in [-1, 1] -> (N, 1, size, size): channels averaged, resized."""
    images = images.float().clamp(-1, 1)
    if images.size(1) != 1:
        images = images.mean(dim=1, keepdim=True)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    return images


class ClassifierFeatures(nn.Module):
    """A frozen classifier on any [-1, 1] images: (penultimate features, logits).

    ``train()`` never leaves evaluation mode, so BatchNorm keeps its statistics.
    """

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.num_features = classifier.num_features
        self.num_classes = classifier.head.out_features  # the data's classes: mode coverage applies

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.classifier.features(to_classifier_input(images, self.classifier.input_size))
        return features, self.classifier.head(features)


class StackedDigitFeatures(nn.Module):
    """A digit classifier read channel by channel, for Stacked MNIST: (N, 3, H, W) images ->
    the three channels' features side by side (3 x 128) and logits over the 1,000 triples, the
    sum of the channels' log-probabilities (its argmax is the triple of the three argmaxes).

    Its classes are equally likely in the data, and a triple counts as covered by one sample,
    as the benchmark's papers count (``uniform_classes``, ``mode_min_count``).
    """

    uniform_classes = True
    mode_min_count = 1
    channels_read = 3  # its features are the three channels' side by side

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.digits = ClassifierFeatures(classifier)
        self.num_features = 3 * self.digits.num_features
        self.num_classes = self.digits.num_classes**3

    def train(self, mode: bool = True) -> StackedDigitFeatures:
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, channels = images.shape[:2]
        if channels != 3:
            raise UserError(f"stacked_mnist features score 3-channel images, not {channels}")
        features, logits = self.digits(images.reshape(n * 3, 1, *images.shape[2:]))
        a, b, c = F.log_softmax(logits.float(), dim=1).reshape(n, 3, -1).unbind(1)
        joint = a[:, :, None, None] + b[:, None, :, None] + c[:, None, None, :]
        return features.reshape(n, -1), joint.reshape(n, -1)


def load_classifier(name_or_path: str) -> DigitClassifier:
    """A shipped classifier by name (``mnist``) or a weights file written by train_classifier."""
    path = Path(name_or_path)
    if not path.suffix:
        path = WEIGHTS_DIR / f"{name_or_path}.pt"
    if not path.is_file():
        raise UserError(
            f"no classifier weights at {path} (shipped: {', '.join(shipped_classifiers()) or 'none'}); "
            "train one with python -m gan_lightning.metrics.train_classifier"
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    classifier = DigitClassifier(num_classes=saved["num_classes"], input_size=saved.get("input_size", INPUT_SIZE))
    classifier.load_state_dict(saved["state_dict"])
    return classifier.eval()
