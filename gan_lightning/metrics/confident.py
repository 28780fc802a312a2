"""Coverage that noise cannot fake: ``confident`` and ``modes_confident``.

A classifier's argmax always names some class, whatever it is shown: over blobs or noise it
lands on hundreds of Stacked MNIST's triples, and its softmax is no guide (the shipped digit
classifier gives uniform noise a top probability above 0.99). So a sample counts as *read* only
where the classifier's own features say it looks like a digit: each channel's penultimate
features lie inside the k-nearest-neighbour ball (k = 3) of at least one real digit's features,
the membership test of improved precision (Kynkäänniemi et al., 2019), made per channel.

- ``confident``: the share of samples whose every channel is read;
- ``modes_confident``: the classes covered by read samples alone, counted as ``modes`` counts
  them (a class holding 1% of the read samples; one read sample, for Stacked MNIST).

Real digits (up to ``MAX_REAL`` channel features, the first ones given) are the reference. Under
DDP each rank reads its samples against its own share of the reals: a little stricter than one
process, never looser.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from gan_lightning.metrics.prdc import neighbour_distances
from gan_lightning.metrics.registry import Outputs, covered, register_metric

K = 3  # neighbours of each real digit's ball, as improved precision
MAX_REAL = 10000  # real channel features kept: the balls' centres
CHUNK = 1000


class ConfidentCoverage(Metric):
    full_state_update = False

    def __init__(self, num_classes: int, channels: int, min_share: float = 0.01, min_count: int = 0) -> None:
        super().__init__()
        self.channels, self.min_share, self.min_count = channels, min_share, min_count
        self.add_state("read", default=torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.real: list[Tensor] = []
        self._balls: tuple[Tensor, Tensor] | None = None  # (centres, radii), made at the first update

    def _per_channel(self, features: Tensor) -> Tensor:
        return features.float().reshape(features.size(0) * self.channels, -1)

    def add_real(self, out: Outputs) -> None:
        kept = sum(len(r) for r in self.real)
        if kept < MAX_REAL:
            self.real.append(self._per_channel(out.features)[: MAX_REAL - kept])
            self._balls = None

    def is_read(self, features: Tensor) -> Tensor:
        """(N,) whether each sample's every channel lies in some real digit's ball."""
        if self._balls is None:
            centres = torch.cat(self.real)
            self._balls = centres, neighbour_distances(centres, K, CHUNK)[:, K - 1]
        centres, radii = self._balls
        channels = self._per_channel(features)
        inside = torch.cat([(torch.cdist(part, centres) <= radii).any(1) for part in channels.split(CHUNK)])
        return inside.reshape(-1, self.channels).all(1)

    def update(self, out: Outputs) -> None:
        read = self.is_read(out.features)
        classes = out.logits.argmax(1)[read]
        self.read += torch.bincount(classes, minlength=self.read.numel()).to(self.read)
        self.total += len(read)

    def compute(self) -> dict[str, Tensor]:
        confident = (self.read.sum() / self.total.clamp(min=1)).float()
        return {"confident": confident, "modes_confident": covered(self.read, self.min_share, self.min_count)}


@register_metric("confident", keys=("confident", "modes_confident"))
def confident_coverage(network: nn.Module) -> nn.Module | None:
    """For a classifier of the data's classes, read channel by channel (``channels_read``) as
    Stacked MNIST's is; the same counting rule as ``modes``."""
    num_classes = getattr(network, "num_classes", None)
    if not num_classes:
        return None
    return ConfidentCoverage(
        num_classes, getattr(network, "channels_read", 1), min_count=getattr(network, "mode_min_count", 0)
    )
