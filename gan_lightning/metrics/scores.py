"""FID, KID and IS of generated images against a fixed set of real ones, through torchmetrics.

``features`` picks the network whose activations are compared: a classifier of
``gan_lightning/metrics/weights`` by name (``mnist``) or a weights file it wrote, for
MNIST-like data; or ``inception``, the standard Inception-v3 of FID papers, for RGB data.
Whatever it is, images go in as [-1, 1] floats of the generator's shape.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

from gan_lightning.data.base import to_pixels, to_unit_range
from gan_lightning.errors import ReportedError
from gan_lightning.metrics.classifier import ClassifierFeatures, load_classifier


class MetricUnavailable(ReportedError):
    """The feature network cannot be built (e.g. Inception weights not downloadable)."""


class InceptionFeatures(nn.Module):
    """Inception-v3 as FID papers use it (torch-fidelity's port) on [-1, 1] images: its 2048
    pool features and the 1008 logits IS is defined on. Grayscale is repeated to RGB."""

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=weights
            )
        except Exception as err:  # no network, a bad file: the run goes on without the metric
            where = f"from {weights}" if weights else "(downloaded once, to torch's hub cache)"
            raise MetricUnavailable(
                f"Inception-v3 weights could not be loaded {where}: {type(err).__name__}: {err}. "
                "Give a local copy of weights-inception-2015-12-05-6726825d.pth as "
                "callbacks.sample_quality.inception_weights=<file> (gan-eval: --inception-weights <file>)"
            ) from err
        self.num_features = 2048

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = to_pixels(images)
        if pixels.size(1) == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        features, logits = self.net(pixels)
        return features, logits


class _Precomputed(nn.Identity):
    """Handed to torchmetrics as its "feature extractor": the features arrive computed, so
    one forward pass of the network serves FID, KID and IS alike."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def feature_network(features: str, inception_weights: str | None = None) -> nn.Module:
    """The network ``features`` names: images -> (penultimate features, logits); its
    ``num_features`` is the width of the first."""
    if features == "inception":
        return InceptionFeatures(inception_weights)
    return ClassifierFeatures(load_classifier(features))


def as_float_batches(
    images: torch.Tensor | np.ndarray, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """uint8 (N, C, H, W) images, possibly memory-mapped, as [-1, 1] float batches on ``device``."""
    for start in range(0, len(images), batch_size):
        batch = torch.as_tensor(np.asarray(images[start : start + batch_size]))
        yield to_unit_range(batch.to(device))


def generated_batches(
    generator: Callable[[torch.Tensor], torch.Tensor],
    num: int,
    latent_dim: int,
    batch_size: int,
    seed: int,
    device: torch.device,
) -> Iterator[torch.Tensor]:
    """``num`` samples of ``generator`` from seeded z, a batch at a time."""
    noise = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, num, batch_size):
        z = torch.randn(min(batch_size, num - start), latent_dim, generator=noise, device=device)
        yield generator(z)


class SampleScores(nn.Module):
    """Holds the real set's statistics once (``add_real``); ``score`` compares a set of images
    with them and returns ``{"fid", "kid", "kid_std", "is", "is_std"}``.

    KID draws random subsets and IS random splits; both run under a fixed seed, with the
    global random state restored after, so scoring neither varies nor disturbs training.
    """

    def __init__(
        self,
        features: str = "mnist",
        kid_subset_size: int = 1000,
        kid_subsets: int = 50,
        is_splits: int = 10,
        inception_weights: str | None = None,
    ) -> None:
        super().__init__()
        self.network = feature_network(features, inception_weights)
        width = self.network.num_features
        with warnings.catch_warnings():  # "will save all extracted features": a few MB at our sizes
            warnings.filterwarnings("ignore", message=".*will save all extracted features")
            self.fid = FrechetInceptionDistance(feature=_Precomputed(width), reset_real_features=False)
            self.kid = KernelInceptionDistance(
                feature=_Precomputed(width), subsets=kid_subsets, subset_size=kid_subset_size, reset_real_features=False
            )
            self.inception_score = InceptionScore(feature=nn.Identity(), splits=is_splits)
        self.kid_subset_size = kid_subset_size
        self.num_real = 0

    @torch.no_grad()
    def add_real(self, batches: Iterable[torch.Tensor]) -> None:
        for images in batches:
            features, _ = self.network(images)
            self.fid.update(features, real=True)
            self.kid.update(features, real=True)
            self.num_real += len(images)

    @torch.no_grad()
    def score(self, batches: Iterable[torch.Tensor], seed: int = 0) -> dict[str, float]:
        num = 0
        for images in batches:
            features, logits = self.network(images)
            self.fid.update(features, real=False)
            self.kid.update(features, real=False)
            self.inception_score.update(logits)
            num += len(images)
        # KID needs subsets no larger than either set; 2 images is the least FID can use.
        self.kid.subset_size = max(2, min(self.kid_subset_size, num, self.num_real))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fid = self.fid.compute()
            kid, kid_std = self.kid.compute()
            inception_score, is_std = self.inception_score.compute()
        for metric in (self.fid, self.kid, self.inception_score):
            metric.reset()  # fakes only: the real statistics stay
        values = {"fid": fid, "kid": kid, "kid_std": kid_std, "is": inception_score, "is_std": is_std}
        return {name: float(value) if math.isfinite(value) else math.nan for name, value in values.items()}
