"""Adaptive discriminator augmentation (ADA, Karras et al., 2020): the probability p with which
each image the discriminator sees is augmented, tuned while training from how sure D is of
the reals.

Every ``interval`` discriminator updates, r_t = E[sign(D(x))] over those updates' reals (near 1:
D has learnt the training images by heart) moves p by sign(r_t - target) x (images seen in
the interval) / (``kimg`` x 1000): p can go from 0 to 1 in ``kimg`` thousand images. Under DDP
r_t is averaged over the ranks, so every rank holds the same p.

p and the sums of the interval under way are buffers: checkpointed with the weights, so a
resumed run augments exactly as an unbroken one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gan_lightning.plumbing.errors import UserError

INTERVAL = 4  # D updates between adjustments, as StyleGAN2-ADA's ada_interval


class AdaptiveP(nn.Module):
    """p, fixed (``adaptive=False``) or adjusted towards ``target`` every ``INTERVAL`` D updates."""

    def __init__(self, p: float = 0.0, adaptive: bool = False, target: float = 0.6, kimg: float = 500) -> None:
        super().__init__()
        self.adaptive, self.target, self.kimg = adaptive, target, kimg
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float64))
        self.register_buffer("rt", torch.tensor(0.0, dtype=torch.float64))  # the last interval's r_t
        # The interval under way: sum of sign(D(x)) and how many reals, for a resume mid-interval.
        self.register_buffer("signs", torch.zeros(2, dtype=torch.float64))

    def after_d_update(
        self, real_out: Tensor, d_updates: int, images_per_update: int, all_ranks_sum: Callable[[Tensor], Tensor]
    ) -> None:
        """The bookkeeping of one D update: count its reals' signs; at an interval's end, move p."""
        self.observe(real_out)
        self.adjust(d_updates, images_per_update, all_ranks_sum)

    @torch.no_grad()
    def observe(self, real_out: Tensor) -> None:
        """Count the signs of D's outputs on one update's reals."""
        if self.adaptive:
            self.signs[0] += real_out.detach().sign().sum().to(self.signs)
            self.signs[1] += real_out.numel()

    @torch.no_grad()
    def adjust(self, d_updates: int, images_per_update: int, all_ranks_sum: Callable[[Tensor], Tensor]) -> None:
        """After the ``d_updates``-th D update: at the end of an interval, move p and start the next.
        ``images_per_update`` counts every rank's reals; ``all_ranks_sum`` sums a tensor over ranks."""
        if not self.adaptive or d_updates % INTERVAL:
            return
        signs, count = all_ranks_sum(self.signs.clone()).unbind()
        self.rt.copy_(signs / count.clamp(min=1))
        step = torch.sign(self.rt - self.target) * images_per_update * INTERVAL / (self.kimg * 1000)
        self.p.copy_((self.p + step).clamp(0.0, 1.0))
        self.signs.zero_()


def adaptive_p(augment_p: float | str | None, target: float, kimg: float) -> AdaptiveP | None:
    """``model.augment_p``: None or 0, no per-image probability; a number in (0, 1], that p;
    ``ada``, p adapted from 0."""
    if augment_p == "ada":
        if not (0 < target < 1 and kimg > 0):
            raise UserError(f"model.ada_target={target} must be in (0, 1), model.ada_kimg={kimg} positive")
        return AdaptiveP(0.0, adaptive=True, target=target, kimg=kimg)
    if augment_p is None or (isinstance(augment_p, int | float) and augment_p == 0):
        return None
    if not isinstance(augment_p, int | float) or isinstance(augment_p, bool) or not 0 < augment_p <= 1:
        raise UserError(f"model.augment_p={augment_p}: a probability in [0, 1], ada, or null")
    return AdaptiveP(float(augment_p))


def with_probability(op: Callable[[Tensor], Tensor], p: float) -> Callable[[Tensor], Tensor]:
    """``op`` applied to each image with probability ``p``, drawn from torch's global generator
    (which the step seeds); at p = 0 nothing is drawn or computed."""

    def apply(images: Tensor) -> Tensor:
        if p <= 0:
            return images
        if p >= 1:
            return op(images)
        chosen = torch.rand(images.size(0), device=images.device) < p
        mask = chosen.view(-1, *([1] * (images.dim() - 1)))
        return torch.where(mask, op(images), images)

    return apply
