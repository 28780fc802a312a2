"""GAN losses: a registry of small pure functions of the discriminator's outputs, and the
penalties that need the discriminator itself.

A loss is one function ``loss(fake, real=None)``: given D's outputs on fakes and on reals it is
the discriminator's loss; given fakes alone, the generator's. Register it with what its numbers
mean, and ``model.loss=<name>`` trains with it::

    @register_loss("my_loss", probabilities=False)
    def my_loss(fake: Tensor, real: Tensor | None = None) -> Tensor:
        ...

A loss whose generator term also needs D's outputs on reals (a relativistic one) says so with
``generator_takes_real=True``: it is then called ``loss(fake, real, generator=True)`` for G, and
the step hands it D's outputs on the batch's reals, the i-th real paired with the i-th fake (of
the same class, for a conditional run).

``probabilities``: D's outputs are logits of P(real), so ``train/d_real`` and ``train/d_fake``
are mean probabilities and the divergence guard's D(G(z)) floor applies; otherwise they are
D's mean raw outputs (scores) and the floor does not apply. ``equilibrium``: the (D, G) losses
where D cannot tell fakes from reals; ``train/equilibrium_gap``, the loss-based sweep
objective, is the distance from them, and is not logged for a loss without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.plumbing.errors import UserError


@dataclass(frozen=True)
class Loss:
    name: str
    fn: Callable[..., Tensor]
    probabilities: bool
    equilibrium: tuple[float, float] | None
    gradient_penalty: bool  # WGAN-GP: D's loss also takes model.gp_weight x the penalty
    generator_takes_real: bool = False  # G's loss pairs D(fake) with D(real): the step passes it

    def discriminator(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.fn(fake, real)

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return self.fn(fake, real, generator=True) if self.generator_takes_real else self.fn(fake)

    def outputs(self, d_outputs: Tensor) -> Tensor:
        """What ``train/d_real`` and ``train/d_fake`` report: mean probabilities, or mean scores."""
        return (torch.sigmoid(d_outputs) if self.probabilities else d_outputs).mean()


LOSSES: dict[str, Loss] = {}


def register_loss(
    name: str,
    *,
    probabilities: bool,
    equilibrium: tuple[float, float] | None = None,
    gradient_penalty: bool = False,
    generator_takes_real: bool = False,
) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    def register(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        LOSSES[name] = Loss(name, fn, probabilities, equilibrium, gradient_penalty, generator_takes_real)
        return fn

    return register


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise UserError(f"model.loss={name}: not a loss here; the losses are {', '.join(LOSSES)}")
    return LOSSES[name]


LN2 = math.log(2)


@register_loss("bce", probabilities=True, equilibrium=(LN2, LN2))
def bce(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Non-saturating BCE (Goodfellow et al., 2014), the seeds' loss. D: real -> 1, fake -> 0, the
    mean of the two terms as the original scripts report it; G: fakes labelled real, i.e. maximize
    log D(G(z)). BCE-with-logits is Sigmoid + BCELoss computed stably, safe under mixed precision."""
    if real is None:
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    real_term = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
    return 0.5 * (real_term + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


@register_loss("bce_saturating", probabilities=True, equilibrium=(LN2, -LN2))
def bce_saturating(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """The original minimax: G minimizes log(1 - D(G(z))) = -softplus(logit), whose gradient
    vanishes while D rejects the fakes confidently. D as in ``bce``."""
    if real is None:
        return -F.softplus(fake).mean()
    return bce(fake, real)


@register_loss("hinge", probabilities=False)
def hinge(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Hinge loss (Lim & Ye, 2017; Miyato et al., 2018). D: max(0, 1 - D(x)) + max(0, 1 + D(G(z)));
    G: -D(G(z))."""
    if real is None:
        return -fake.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


@register_loss("lsgan", probabilities=False, equilibrium=(0.25, 0.125))
def lsgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Least squares (Mao et al., 2017, targets a=0, b=c=1). D: (D(x) - 1)^2 / 2 + D(G(z))^2 / 2;
    G: (D(G(z)) - 1)^2 / 2. Where D cannot tell, it outputs 1/2: losses 1/4 and 1/8."""
    if real is None:
        return 0.5 * (fake - 1).pow(2).mean()
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


@register_loss("wgan_gp", probabilities=False, gradient_penalty=True)
def wgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Wasserstein (Arjovsky et al., 2017) with the gradient penalty (Gulrajani et al., 2017, added
    by the step with model.gp_weight). D (the critic): D(G(z)) - D(x); G: -D(G(z)).
    ``train/d_real - train/d_fake`` estimates the Wasserstein distance."""
    if real is None:
        return -fake.mean()
    return fake.mean() - real.mean()


@register_loss("rpgan", probabilities=False, equilibrium=(LN2, LN2), generator_takes_real=True)
def rpgan(fake: Tensor, real: Tensor | None = None, generator: bool = False) -> Tensor:
    """Relativistic pairing (Jolicoeur-Martineau, 2019), R3GAN's loss (Huang et al., 2024) with
    model.r1_gamma and model.r2_gamma. Each real is paired with the fake of the same index.
    D: softplus(D(G(z)) - D(x)); G: softplus(D(x) - D(G(z))). Where D cannot tell, both are ln 2."""
    assert real is not None, "rpgan pairs each fake with a real"
    gap = real - fake
    return F.softplus(gap).mean() if generator else F.softplus(-gap).mean()


def gradient_penalty(discriminator: Callable[..., Tensor], real: Tensor, fake: Tensor, mix: Tensor) -> Tensor:
    """WGAN-GP's penalty, E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = mix * x + (1 - mix) * G(z),
    ``mix`` one U(0, 1) draw per sample, shaped to broadcast over the image."""
    mixed = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(discriminator: Callable[..., Tensor], images: Tensor) -> Tensor:
    """R1 (Mescheder et al., 2018): E[||grad_x D(x)||^2] on real images; on fakes, the same
    zero-centred penalty is R2 (Roth et al., 2017; R3GAN takes both)."""
    images = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(images).sum(), images, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
