"""DCGAN's convolutional generator and discriminator (Radford et al., 2016), for any
power-of-two image size from 16 to 256: the number of stride-2 blocks follows from the size.

With ``num_classes`` > 0 they are class-conditional: G joins a learned label embedding to z,
and D is a projection discriminator (Miyato & Koyama, 2018): its logit gains the inner product
of a label embedding with D's last features, summed over space.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_lightning.models.layers import MinibatchStd

SUPPORTED_SIZES = (16, 32, 64, 128, 256)


def num_doublings(image_size: int) -> int:
    """Stride-2 steps between the 4x4 base and ``image_size``; refuses sizes DCGAN can't make."""
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size={image_size}: DCGAN makes square power-of-two images, one of {SUPPORTED_SIZES}")
    return int(math.log2(image_size)) - 2


def dcgan_init(module: nn.Module) -> None:
    """The paper's init: conv weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z -> ConvTranspose to 4x4, then stride-2 ConvTranspose + BatchNorm + ReLU blocks that
    halve the channels as they double the size, and a last ConvTranspose to ``channels`` + Tanh.
    At 64x64 with ``base_width`` 64 the widths are 512, 256, 128, 64, then the image.
    """

    def __init__(
        self, latent_dim: int = 100, channels: int = 3, image_size: int = 64, base_width: int = 64, num_classes: int = 0
    ):
        super().__init__()
        doublings = num_doublings(image_size)
        width = base_width * 2 ** (doublings - 1)
        self.label_embedding = nn.Embedding(num_classes, num_classes) if num_classes else None
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + num_classes, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(doublings - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([self.label_embedding(labels), z], dim=1)
        return self.net(z.view(z.size(0), -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """The generator's mirror: Conv + LeakyReLU 0.2 (no norm on the input layer), stride-2
    Conv + BatchNorm + LeakyReLU blocks doubling the channels down to 4x4, then a 4x4 Conv to
    one logit (no Sigmoid: the loss is BCE-with-logits). ``batch_norm=False`` leaves the blocks
    unnormalized, so that D judges each image alone, as gradient penalties assume (R3GAN).
    ``minibatch_std`` > 0: the minibatch standard-deviation map of groups of that size
    (``layers.MinibatchStd``) joins the 4x4 features before the last conv.
    """

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 64,
        base_width: int = 64,
        num_classes: int = 0,
        batch_norm: bool = True,
        minibatch_std: int = 0,
    ):
        super().__init__()
        doublings = num_doublings(image_size)
        width = base_width
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(doublings - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=not batch_norm),
                nn.BatchNorm2d(width * 2) if batch_norm else nn.Identity(),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        layers.append(nn.Conv2d(width + (1 if minibatch_std else 0), 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        self.label_embedding = nn.Embedding(num_classes, width) if num_classes else None
        if self.label_embedding is not None:
            # Small, as the paper's other weights: torch's N(0, 1) default gives the projection
            # logits in the hundreds at the start, and D wins before G learns anything.
            nn.init.normal_(self.label_embedding.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.net[:-1](images)  # (N, width, 4, 4)
        last = self.minibatch_std(features) if self.minibatch_std is not None else features
        logit = self.net[-1](last).view(-1)
        if self.label_embedding is None:
            return logit
        return logit + (self.label_embedding(labels) * features.sum(dim=(2, 3))).sum(dim=1)
