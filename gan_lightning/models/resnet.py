"""ResNet generator and discriminator as the SNGAN and BigGAN codebases build them for 32x32 and
64x64 (Miyato et al., 2018; Brock et al., 2019): pre-activation residual blocks, nearest
upsampling in G and average pooling in D, no BatchNorm in D. With ``num_classes`` > 0, G's
batch norms take per-class scale and shift (conditional BatchNorm) and D adds a projection
term, the inner product of a class embedding with its pooled features (Miyato & Koyama, 2018).

Widths follow ``base_width`` (w) as DCGAN's do: at 32x32 G runs 4w, 4w, 2w, w from 4x4 up,
and D w, 2w, 4w down to 4x4, then one more block there. Spectral norm, the losses, penalties
and augmentation are the module's knobs (``model.spectral_norm=true``, as SNGAN trains them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_lightning.models.dcgan import num_doublings
from gan_lightning.models.layers import ClassBatchNorm, MinibatchStd


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class UpBlock(nn.Module):
    """BN, ReLU, 2x nearest upsampling, 3x3 conv, BN, ReLU, 3x3 conv; the shortcut upsamples
    and maps channels with a 1x1 conv."""

    def __init__(self, width_in: int, width_out: int, num_classes: int = 0) -> None:
        super().__init__()
        self.norm1, self.norm2 = ClassBatchNorm(width_in, num_classes), ClassBatchNorm(width_out, num_classes)
        self.conv1 = nn.Conv2d(width_in, width_out, 3, padding=1)
        self.conv2 = nn.Conv2d(width_out, width_out, 3, padding=1)
        self.shortcut = nn.Conv2d(width_in, width_out, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, labels)), scale_factor=2)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, then 2x average pooling (``down``); the shortcut is a
    1x1 conv and the same pooling. The first block of D (``first``) takes the image itself: no
    ReLU before its first conv, and its shortcut pools before the conv (SNGAN's optimized block)."""

    def __init__(self, width_in: int, width_out: int, down: bool = True, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(width_in, width_out, 3, padding=1)
        self.conv2 = nn.Conv2d(width_out, width_out, 3, padding=1)
        self.shortcut = nn.Conv2d(width_in, width_out, 1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self._pool(self.conv2(F.relu(h)))
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ResNetGenerator(nn.Module):
    """z -> linear to (4w', 4, 4) -> one UpBlock per doubling -> BN, ReLU, 3x3 conv, Tanh."""

    def __init__(
        self, latent_dim: int = 128, channels: int = 3, image_size: int = 32, base_width: int = 64, num_classes: int = 0
    ) -> None:
        super().__init__()
        doublings = num_doublings(image_size)
        widths = [base_width * 2 ** min(i, 2) for i in reversed(range(doublings))]  # e.g. 4w, 2w, w
        self.start_width = widths[0]
        self.linear = nn.Linear(latent_dim, 4 * 4 * widths[0])
        ins = [widths[0], *widths[:-1]]
        self.blocks = nn.ModuleList(UpBlock(i, o, num_classes) for i, o in zip(ins, widths, strict=True))
        self.norm = nn.BatchNorm2d(widths[-1])
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)
        self.apply(_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z.flatten(1)).view(z.size(0), self.start_width, 4, 4)
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.to_image(F.relu(self.norm(h))))


class ResNetDiscriminator(nn.Module):
    """image -> one DownBlock per halving down to 4x4 (the first SNGAN's optimized one) -> one
    more block at 4x4 -> ReLU, sum over positions -> linear to one logit, plus the projection
    term for a class. ``minibatch_std`` > 0: the minibatch standard-deviation map (of groups of
    that size) joins the features before the last block."""

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 32,
        base_width: int = 64,
        num_classes: int = 0,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        doublings = num_doublings(image_size)
        widths = [base_width * 2 ** min(i, 3) for i in range(doublings)]  # e.g. w, 2w, 4w
        blocks = [DownBlock(channels, widths[0], first=True)]
        blocks += [DownBlock(i, o) for i, o in zip(widths[:-1], widths[1:], strict=True)]
        self.blocks = nn.Sequential(*blocks)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        self.last = DownBlock(widths[-1] + (1 if minibatch_std else 0), widths[-1], down=False)
        self.linear = nn.Linear(widths[-1], 1)
        self.label_embedding = nn.Embedding(num_classes, widths[-1]) if num_classes else None
        self.apply(_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(images)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        features = F.relu(self.last(h)).sum(dim=(2, 3))  # (N, width)
        logit = self.linear(features).view(-1)
        if self.label_embedding is not None:
            logit = logit + (self.label_embedding(labels) * features).sum(dim=1)
        return logit
