"""GAN losses as pure functions of discriminator logits.

BCE-with-logits is the same objective as Sigmoid + BCELoss, computed stably (log-sum-exp),
and is safe under mixed precision where a separate Sigmoid saturates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Real -> 1, fake -> 0; the mean of the two terms, as the seed scripts report it."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: label fakes as real, i.e. maximize log D(G(z))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
