"""Fidelity and diversity apart, from k-nearest-neighbour balls of the feature network's
features (the ones FID compares):

- ``precision`` (Kynkäänniemi et al., 2019, k = 3): the share of samples that fall in the
  k-NN ball of at least one real image: how many samples look real;
- ``recall`` (the same, k = 3): the share of real images in the k-NN ball of at least one
  sample: how much of the data the samples cover;
- ``density`` (Naeem et al., 2020, k = 5): how many real balls a sample falls in, on average,
  over k: like precision, but not fooled by real outliers (1 for samples like the data);
- ``coverage`` (the same, k = 5): the share of real images whose ball holds a sample.

Pairwise distances are computed in chunks on the features' device, so memory stays bounded
(a 1,000 x 10,000 block at a time).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gan_lightning.metrics.registry import Outputs, register_metric

PR_K, DC_K = 3, 5  # the neighbours of each paper
CHUNK = 1000


def neighbour_distances(points: Tensor, k: int, chunk: int = CHUNK) -> Tensor:
    """(N, k): each point's distances to its 1st ... k-th nearest other point."""
    rows = [torch.cdist(part, points).topk(k + 1, dim=1, largest=False).values for part in points.split(chunk)]
    return torch.cat(rows)[:, 1:]  # column 0: the point itself


def prdc(real: Tensor, fake: Tensor, chunk: int = CHUNK) -> dict[str, Tensor]:
    """Precision and recall (k = 3), density and coverage (k = 5) of ``fake`` against ``real``
    features, each (N, D), in their own precision."""
    real_neighbours = neighbour_distances(real, max(PR_K, DC_K), chunk)
    real_pr, real_dc = real_neighbours[:, PR_K - 1], real_neighbours[:, DC_K - 1]
    fake_pr = neighbour_distances(fake, PR_K, chunk)[:, PR_K - 1]
    in_real_ball = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    balls_holding = torch.zeros(len(fake), dtype=torch.float64, device=fake.device)  # counts, exactly
    real_covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    nearest_fake = torch.full((len(real),), torch.inf, dtype=real.dtype, device=real.device)
    for start in range(0, len(fake), chunk):
        part = slice(start, start + chunk)
        distances = torch.cdist(fake[part], real)  # (chunk of samples, real images)
        in_real_ball[part] = (distances <= real_pr).any(dim=1)
        balls_holding[part] = (distances <= real_dc).sum(dim=1).double()
        real_covered |= (distances <= fake_pr[part, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, distances.min(dim=0).values)
    return {
        "precision": in_real_ball.double().mean(),
        "recall": real_covered.double().mean(),
        "density": balls_holding.sum() / (DC_K * len(fake)),
        "coverage": (nearest_fake <= real_dc).double().mean(),
    }


class PRDC(Metric):
    """Keeps the real features once and the samples' features of each scoring (gathered over
    DDP ranks when computed)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("real", default=[], dist_reduce_fx="cat")
        self.add_state("fake", default=[], dist_reduce_fx="cat")

    def add_real(self, out: Outputs) -> None:
        self.real.append(out.features.detach().float())

    def update(self, out: Outputs) -> None:
        self.fake.append(out.features.detach().float())

    def compute(self) -> dict[str, Tensor]:
        real, fake = dim_zero_cat(self.real), dim_zero_cat(self.fake)
        if min(len(real), len(fake)) <= DC_K:  # no k-th neighbour to measure by
            return {}
        return {name: value.float() for name, value in prdc(real, fake).items()}

    def reset(self) -> None:
        real = list(self.real)
        super().reset()
        self.real = real


@register_metric("prdc", keys=("precision", "recall", "density", "coverage"))
def precision_recall_density_coverage(network: nn.Module) -> nn.Module:
    """``precision``, ``recall``, ``density`` and ``coverage`` of the samples, for every network."""
    return PRDC()
