"""Layers the networks share: the minibatch standard-deviation feature, and batch norm whose
scale and shift depend on the class."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStd(nn.Module):
    """Appends one feature map to D's features: how much the images of a group differ
    (Karras et al., 2018, Progressive Growing of GANs, Sec. 3). The batch of N splits into
    groups of ``group_size`` images, sample i in group i mod (N / group_size); for each group the
    standard deviation of every feature over its members, sqrt(var + 1e-8), is averaged over
    channels and positions to one number, which fills a constant map for each member. A
    collapsed G's fakes, alike within a group, give D a map near 0 that real images never do.
    The batch must divide into groups (a group is the whole batch when it is smaller).
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, c, h, w = features.shape
        group = min(self.group_size, n)
        if n % group:
            raise ValueError(f"minibatch std: a batch of {n} does not split into groups of {group}")
        grouped = features.float().reshape(group, n // group, c, h, w)
        # The variance written out: torch's var over the outer dim takes 20x as long here.
        variance = (grouped - grouped.mean(dim=0)).square().mean(dim=0)
        std = (variance + 1e-8).sqrt()  # (N / group, C, H, W)
        per_group = std.mean(dim=(1, 2, 3)).to(features.dtype)  # one number per group
        stat = per_group.view(1, n // group, 1, 1, 1).expand(group, -1, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([features, stat], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class ClassBatchNorm(nn.Module):
    """Batch norm whose scale and shift are looked up per class (conditional batch norm, de
    Vries et al., 2017; as SNGAN's and BigGAN's generators use it); with no classes, plain
    ``BatchNorm2d``."""

    def __init__(self, channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm2d(channels, affine=not num_classes)
        if num_classes:
            self.scale = nn.Embedding(num_classes, channels)
            self.shift = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.norm(x)
        if not self.num_classes:
            return out
        return out * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]
