"""The metrics registry: each score of a set of samples is a module made by a registered
factory from the feature network, fed the network's outputs on real images once and on each
set of samples after. ``SampleScores`` builds every metric that applies to its network, so a
metric written here shows up as ``val/<name>`` in training and as a column of ``gan-eval``::

    @register_metric("my_score")   # keys=(...): what compute() returns, if not ("my_score",)
    def my_score(network: nn.Module) -> nn.Module | None:   # None: not for this network
        return MyScore(...)   # add_real(out), update(out), compute() -> {"my_score": ...}, reset()

Each is a torchmetrics ``Metric`` (or holds some), so under DDP its state is gathered over
ranks when computed. ``reset()`` forgets the samples and keeps the real statistics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance


@dataclass
class Outputs:
    """What the feature network says of a batch of images."""

    features: Tensor  # penultimate activations: FID, KID
    logits: Tensor | None  # class logits: IS; a classifier's classes: mode coverage
    labels: Tensor | None = None  # the classes the images were asked for (conditional samples)


METRICS: dict[str, Callable[[nn.Module], nn.Module | None]] = {}


def register_metric(name: str, keys: tuple[str, ...] | None = None) -> Callable[[Callable], Callable]:
    """``keys``: the names ``compute`` returns, logged as ``val/<key>`` (default: the metric's
    own name); the checks before training read them to know what ``best.ckpt`` can monitor."""

    def register(factory: Callable[[nn.Module], nn.Module | None]) -> Callable[[nn.Module], nn.Module | None]:
        factory.keys = tuple(keys or (name,))  # type: ignore[attr-defined]
        METRICS[name] = factory
        return factory

    return register


class _Precomputed(nn.Identity):
    """Handed to torchmetrics as its "feature extractor": the features arrive computed, so one
    forward pass of the network serves every metric."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


class _RealAndFake(nn.Module):
    """A torchmetrics metric that takes ``real=`` in ``update`` (FID, KID), on the features."""

    def __init__(self, metric: Metric) -> None:
        super().__init__()
        self.metric = metric
        self.num_real = self.num_fake = 0

    def add_real(self, out: Outputs) -> None:
        self.metric.update(out.features, real=True)
        self.num_real += len(out.features)

    def update(self, out: Outputs) -> None:
        self.metric.update(out.features, real=False)
        self.num_fake += len(out.features)

    def reset(self) -> None:
        self.metric.reset()  # built with reset_real_features=False: the real statistics stay
        self.num_fake = 0


class FID(_RealAndFake):
    def compute(self) -> dict[str, Tensor]:
        return {"fid": self.metric.compute()}


class KID(_RealAndFake):
    def __init__(self, metric: KernelInceptionDistance, subset_size: int) -> None:
        super().__init__(metric)
        self.subset_size = subset_size

    def compute(self) -> dict[str, Tensor]:
        # Subsets no larger than either set.
        self.metric.subset_size = max(2, min(self.subset_size, self.num_fake, self.num_real))
        kid, kid_std = self.metric.compute()
        return {"kid": kid, "kid_std": kid_std}


def _quietly_built(build: Callable[[], Metric]) -> Metric:
    with warnings.catch_warnings():  # "will save all extracted features": a few MB at our sizes
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        return build()


@register_metric("fid")
def fid(network: nn.Module) -> nn.Module:
    """Fréchet distance between the Gaussians fitted to real and generated features."""
    width = network.num_features
    return FID(_quietly_built(lambda: FrechetInceptionDistance(feature=_Precomputed(width), reset_real_features=False)))


@register_metric("kid")
def kid(network: nn.Module) -> nn.Module:
    """Kernel Inception Distance: unbiased MMD with a cubic polynomial kernel, over 50 subsets."""
    width = network.num_features
    metric = _quietly_built(
        lambda: KernelInceptionDistance(
            feature=_Precomputed(width), subsets=50, subset_size=1000, reset_real_features=False
        )
    )
    return KID(metric, subset_size=1000)


class IS(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.metric = _quietly_built(lambda: InceptionScore(feature=nn.Identity(), splits=10))

    def add_real(self, out: Outputs) -> None:
        pass

    def update(self, out: Outputs) -> None:
        self.metric.update(out.logits)

    def compute(self) -> dict[str, Tensor]:
        value, std = self.metric.compute()
        return {"is": value, "is_std": std}

    def reset(self) -> None:
        self.metric.reset()


@register_metric("is")
def inception_score(network: nn.Module) -> nn.Module | None:
    """exp E[KL(p(y|x) || p(y))] of the network's class predictions, over 10 splits; not for
    a network without logits (a TorchScript Inception)."""
    return IS() if getattr(network, "has_logits", True) else None


def covered(histogram: Tensor, min_share: float, min_count: int) -> Tensor:
    """How many classes hold at least ``min_count`` samples of ``histogram`` (when set), else at
    least ``min_share`` of them (none of an empty histogram)."""
    total = histogram.sum()
    threshold = min_count if min_count else min_share * total.clamp(min=1)
    return ((histogram >= threshold) & (histogram > 0)).sum().float()


class ClassCoverage(Metric):
    """The classes a classifier sees in the samples, against the real images':

    - ``modes``: how many classes hold at least ``min_share`` of the samples, or at least
      ``min_count`` of them (mode collapse shows as this falling, whatever the losses do);
    - ``class_kl``: KL(samples || real) of the two class histograms, 0 for samples spread over
      the classes as the real images are; with ``uniform``, KL(samples || uniform), as the
      Stacked MNIST papers report it.
    """

    full_state_update = False

    def __init__(self, num_classes: int, min_share: float = 0.01, min_count: int = 0, uniform: bool = False) -> None:
        super().__init__()
        self.min_share, self.min_count, self.uniform = min_share, min_count, uniform
        self.add_state("real", default=torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("fake", default=torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")

    def _histogram(self, logits: Tensor) -> Tensor:
        return torch.bincount(logits.argmax(1), minlength=self.real.numel()).to(self.real)

    def add_real(self, out: Outputs) -> None:
        self.real += self._histogram(out.logits)

    def update(self, out: Outputs) -> None:
        self.fake += self._histogram(out.logits)

    def compute(self) -> dict[str, Tensor]:
        total = self.fake.sum().clamp(min=1)
        fake = self.fake / total
        reference = torch.ones_like(self.real) if self.uniform else self.real + 1e-12
        reference = reference / reference.sum()
        shown = fake > 0
        kl = (fake[shown] * (fake[shown] / reference[shown]).log()).sum()
        return {"modes": covered(self.fake, self.min_share, self.min_count), "class_kl": kl.float()}

    def reset(self) -> None:
        real = self.real.clone()
        super().reset()
        self.real = real


@register_metric("modes", keys=("modes", "class_kl"))
def class_coverage(network: nn.Module) -> nn.Module | None:
    """``modes`` and ``class_kl``, for a feature network that is a classifier of the data's
    classes (the shipped MNIST-like ones; Inception's ImageNet classes say nothing of digits).
    The network may say its classes are equally likely (``uniform_classes``) and that one
    sample covers a class (``mode_min_count``), as Stacked MNIST's does."""
    num_classes = getattr(network, "num_classes", None)
    if not num_classes:
        return None
    return ClassCoverage(
        num_classes,
        min_count=getattr(network, "mode_min_count", 0),
        uniform=getattr(network, "uniform_classes", False),
    )


class ClassAccuracy(Metric):
    """``class_acc``: the share of samples the classifier assigns to the class they were asked
    for (conditional samples only; chance is 1 / classes)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def add_real(self, out: Outputs) -> None:
        pass

    def update(self, out: Outputs) -> None:
        if out.labels is not None:
            self.correct += (out.logits.argmax(1) == out.labels).sum()
            self.total += len(out.labels)

    def compute(self) -> dict[str, Tensor]:
        return {"class_acc": (self.correct / self.total).float()} if self.total > 0 else {}


@register_metric("class_acc")
def class_accuracy(network: nn.Module) -> nn.Module | None:
    """For a classifier of the data's classes; samples drawn without classes leave it out."""
    return ClassAccuracy() if getattr(network, "num_classes", None) else None


def as_floats(values: dict[str, Tensor]) -> dict[str, float]:
    return {name: float(value) if math.isfinite(float(value)) else math.nan for name, value in values.items()}
