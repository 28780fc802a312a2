"""The vanilla GAN's fully connected generator and discriminator, and their class-conditional
form (cGAN, Mirza & Osindero, 2014): with ``num_classes`` > 0 a learned label embedding is
joined to z in G and to the flattened image in D, as PyTorch-GAN's ``cgan.py`` does it."""

from __future__ import annotations

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """z -> 128 -> 256 -> 512 -> 1024 -> C*H*W, Tanh output in [-1, 1] shaped as an image.

    ``bn_eps`` defaults to PyTorch's 1e-5. The original script wrote ``BatchNorm1d(n, 0.8)``
    meaning momentum, but the second positional argument is eps; ``bn_eps=0.8`` reproduces it.
    """

    def __init__(
        self, latent_dim: int = 100, channels: int = 1, image_size: int = 28, bn_eps: float = 1e-5, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        self.label_embedding = nn.Embedding(num_classes, num_classes) if num_classes else None

        def block(n_in: int, n_out: int, norm: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if norm:
                layers.append(nn.BatchNorm1d(n_out, eps=bn_eps))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.net = nn.Sequential(
            *block(latent_dim + num_classes, 128, norm=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, channels * image_size * image_size),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([self.label_embedding(labels), z], dim=1)
        return self.net(z).view(z.size(0), *self.image_shape)


class MLPDiscriminator(nn.Module):
    """image -> 512 -> 256 -> one logit (no sigmoid: the loss is BCE-with-logits)."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 0) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(num_classes, num_classes) if num_classes else None
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size + num_classes, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            images = torch.cat([images.flatten(1), self.label_embedding(labels)], dim=1)
        return self.net(images).view(-1)
