"""The vanilla GAN's fully connected generator and discriminator."""

from __future__ import annotations

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """z -> 128 -> 256 -> 512 -> 1024 -> C*H*W, Tanh output in [-1, 1] shaped as an image.

    ``bn_eps`` defaults to PyTorch's 1e-5. The original script wrote ``BatchNorm1d(n, 0.8)``
    meaning momentum, but the second positional argument is eps; ``bn_eps=0.8`` reproduces it.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 28, bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.image_shape = (channels, image_size, image_size)

        def block(n_in: int, n_out: int, norm: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if norm:
                layers.append(nn.BatchNorm1d(n_out, eps=bn_eps))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.net = nn.Sequential(
            *block(latent_dim, 128, norm=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, channels * image_size * image_size),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.size(0), *self.image_shape)


class MLPDiscriminator(nn.Module):
    """image -> 512 -> 256 -> one logit (no sigmoid: the loss is BCE-with-logits)."""

    def __init__(self, channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size * image_size, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).view(-1)
