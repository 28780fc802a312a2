"""FID, KID and IS of generated images against a fixed set of real ones, through torchmetrics.

``features`` picks the network whose activations are compared: a classifier of
``gan_lightning/metrics/weights`` by name (``mnist``) or a weights file it wrote, for
MNIST-like data; or ``inception``, the standard Inception-v3 of FID papers, for RGB data.
Whatever it is, images go in as [-1, 1] floats of the generator's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from gan_lightning.data.base import to_pixels, to_unit_range
from gan_lightning.errors import ReportedError
from gan_lightning.metrics.classifier import ClassifierFeatures, load_classifier
from gan_lightning.metrics.registry import METRICS, Outputs, as_floats


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
    with them and returns every registered metric that applies to the feature network:
    ``fid``, ``kid`` (and ``kid_std``), ``is`` (and ``is_std``), and for a classifier of the
    data's classes ``modes`` and ``class_kl`` (see ``metrics/registry.py``).

    KID draws random subsets and IS random splits; both run under a fixed seed, with the
    global random state restored after, so scoring neither varies nor disturbs training.
    """

    def __init__(self, features: str = "mnist", inception_weights: str | None = None) -> None:
        super().__init__()
        self.network = feature_network(features, inception_weights)
        built = {name: factory(self.network) for name, factory in METRICS.items()}
        self.metrics = nn.ModuleDict({name: metric for name, metric in built.items() if metric is not None})

    def _outputs(self, batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]) -> Outputs:
        images, labels = batch if isinstance(batch, tuple) else (batch, None)
        features, logits = self.network(images)
        return Outputs(features, logits, labels)

    @torch.no_grad()
    def add_real(self, batches: Iterable[torch.Tensor]) -> None:
        for batch in batches:
            out = self._outputs(batch)
            for metric in self.metrics.values():
                metric.add_real(out)

    @torch.no_grad()
    def score(self, batches: Iterable[torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]], seed: int = 0) -> dict:
        """Every metric of these images (or (images, labels asked for) pairs)."""
        for batch in batches:
            out = self._outputs(batch)
            for metric in self.metrics.values():
                metric.update(out)
        values: dict[str, torch.Tensor] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for metric in self.metrics.values():
                values |= metric.compute()
        for metric in self.metrics.values():
            metric.reset()  # the samples only: the real statistics stay
        return as_floats(values)
