"""The LightningModule every GAN here trains with: n discriminator updates, then one generator
update, with the loss, penalties and augmentation the config names."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from gan_lightning.ada import adaptive_p
from gan_lightning.augment import AUGMENTATIONS, build_augment
from gan_lightning.ema import ema_decay_at, update_ema
from gan_lightning.losses import get_loss, gradient_penalty, r1_penalty
from gan_lightning.plumbing.errors import UserError
from gan_lightning.plumbing.private_api import step_not_counted
from gan_lightning.randomness import Draw, latent_noise, seeded, step_key


def _plain(cfg: Any) -> Any:
    """Configs become plain dicts so checkpoints load without Hydra's config objects."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def spectral_normalized(network: nn.Module) -> nn.Module:
    """torch's spectral-norm parametrization on every weight layer of ``network``, in place."""
    layers = [m for m in network.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d | nn.Embedding)]
    for layer in layers:
        nn.utils.parametrizations.spectral_norm(layer)
    return network


class GANModule(LightningModule):
    """Holds ``generator`` and ``discriminator`` (built from ``_target_`` configs) and trains them.

    Each training step takes ``d_steps_per_g`` batches: one discriminator update on each (reals
    against detached fakes), then one generator update against the discriminator just updated,
    all with the loss of ``gan_lightning/losses.py`` that ``loss`` names, plus WGAN-GP's gradient
    penalty, the R1 penalty (``r1_gamma``, every ``r1_every`` D updates) and DiffAugment
    (``augment``) when asked for. ``fixed_noise`` is a buffer, so sample grids use the same z for
    the whole run, across resumes. Each step's z (and augmentation) is a function of (``seed``,
    rank, step) alone: DDP ranks draw differently, and a resumed run draws exactly what an
    uninterrupted one would, with no random-generator state to checkpoint.
    """

    def __init__(
        self,
        generator: DictConfig | dict,
        discriminator: DictConfig | dict,
        g_optimizer: DictConfig | dict,
        d_optimizer: DictConfig | dict,
        latent_dim: int = 100,
        num_fixed_samples: int = 64,
        seed: int = 0,
        loss: str = "bce",
        gp_weight: float = 10.0,
        d_steps_per_g: int = 1,
        r1_gamma: float = 0.0,
        r1_every: int = 1,
        r2_gamma: float = 0.0,
        spectral_norm: bool = False,
        augment: Sequence[str] = (),
        augment_p: float | str | None = None,
        ada_target: float = 0.6,
        ada_kimg: float = 500,
        conditional: bool = False,
        num_classes: int = 0,
        channels_last: bool = False,
        compile: bool = False,
        compile_backend: str = "inductor",
        ema_decay: float | None = None,
        ema_rampup: float | None = None,
        pack: int = 1,
    ) -> None:
        super().__init__()
        # Every argument, as given (network and optimizer configs as plain dicts): a checkpoint
        # rebuilds the module from them.
        saved = {name: value for name, value in locals().items() if name in _ARGUMENTS}
        saved.update(
            {name: _plain(saved[name]) for name in ("generator", "discriminator", "g_optimizer", "d_optimizer")}
        )
        saved.update(augment=list(augment), num_classes=num_classes if conditional else 0)
        self.save_hyperparameters(saved, logger=False)
        if d_steps_per_g < 1 or r1_every < 1 or min(gp_weight, r1_gamma, r2_gamma) < 0:
            raise UserError(
                f"model.d_steps_per_g={d_steps_per_g}, model.r1_every={r1_every}: must be at least 1; "
                f"model.gp_weight={gp_weight}, model.r1_gamma={r1_gamma}, model.r2_gamma={r2_gamma}: "
                "must not be negative"
            )
        self.automatic_optimization = False
        self.latent_dim, self.seed = latent_dim, seed
        self.loss = get_loss(loss)
        self.gp_weight, self.d_steps_per_g = gp_weight, d_steps_per_g
        self.r1_gamma, self.r1_every, self.r2_gamma = r1_gamma, r1_every, r2_gamma
        # model.augment_p: each image augmented with probability p, fixed or adapted (ADA); all
        # the ops when none are named. Absent or 0: model.augment as before, on every image.
        self.ada = adaptive_p(augment_p, ada_target, ada_kimg)
        self.augment = build_augment(list(augment) or (list(AUGMENTATIONS) if self.ada is not None else []))
        self.num_classes = self.hparams.num_classes  # 0: unconditional
        if conditional and self.num_classes < 2:
            raise UserError(f"model.conditional=true needs a data set of classes; this one has {num_classes}")
        classes = {"num_classes": self.num_classes} if self.num_classes else {}
        self.generator = instantiate(self.hparams.generator, **classes)
        self.pack = pack
        self.discriminator = instantiate(self.hparams.discriminator, **classes, **self._packed_channels())
        if spectral_norm:
            spectral_normalized(self.discriminator)
        noise = seeded(seed)
        if self.num_classes:  # one row per class; each column one z, the same for every class
            per_class = 8
            fixed = latent_noise(per_class, latent_dim, noise).repeat(self.num_classes, 1)
            self.register_buffer("fixed_labels", torch.arange(self.num_classes).repeat_interleave(per_class))
        else:
            fixed = latent_noise(num_fixed_samples, latent_dim, noise)
            self.fixed_labels = None
        self.register_buffer("fixed_noise", fixed)
        # An exponential moving average of G's weights: a submodule, so it is checkpointed and
        # resumed with the rest; never trained, only updated after each generator step.
        self.ema_decay, self.ema_rampup = ema_decay, ema_rampup
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False) if ema_decay else None
        # NHWC convolutions: faster on tensor-core GPUs (with mixed precision); only 4-d
        # weights change layout, so the MLP networks are unaffected.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)
        if compile:
            # Each network's forward is compiled in place (state_dict keys unchanged), not the
            # training step: toggle_optimizer's requires_grad flips stay plain Python, and the
            # compiled D keeps one graph per requires_grad state instead of failing.
            self.generator.compile(backend=compile_backend)
            self.discriminator.compile(backend=compile_backend)

    def _packed_channels(self) -> dict[str, int]:
        """PacGAN (Lin et al., 2018): D judges ``pack`` images at once, stacked on the channels,
        so its input has ``pack`` times the channels."""
        if self.pack == 1:
            return {}
        channels = self.hparams.discriminator.get("channels")
        if self.pack < 1 or self.num_classes or channels is None:
            raise UserError(
                f"model.pack={self.pack}: packing needs a whole number of at least 1, an unconditional GAN, "
                "and a discriminator with a `channels` argument"
            )
        return {"channels": channels * self.pack}

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.generator(z, labels)

    def d(self, images: Tensor, labels: Tensor | None = None, p: float | None = None) -> Tensor:
        """What the discriminator says of ``images``, augmented when ``augment`` is set (each image
        with probability ``p``, this step's under ``augment_p``; None: every image). With
        ``pack`` k, images k*i .. k*i+k-1 go in as one, stacked on the channels: one output per k."""
        images = self.augment(images, p) if self.augment else images
        if self.pack > 1:
            images = images.reshape(images.size(0) // self.pack, -1, *images.shape[2:])
        return self.discriminator(images, labels)

    def on_train_start(self) -> None:
        # A resume restores each optimizer's hyperparameters with its state; this run's
        # config wins, so `ckpt_path=... model.g_optimizer.lr=1e-4` really lowers the lr.
        configs = (self.hparams.g_optimizer, self.hparams.d_optimizer)
        for optimizer, config in zip(self.optimizers(), configs, strict=True):
            settings = instantiate(config)([torch.zeros(1)]).param_groups[0]
            for group in optimizer.optimizer.param_groups:
                group.update({key: value for key, value in settings.items() if key != "params"})

    def _rng(self, update: int, draw: Draw) -> torch.Generator:
        """Random numbers for ``draw`` at discriminator ``update`` of this step on this rank."""
        return seeded(step_key(self.seed, self.global_rank, self.global_step, update, draw), self.device)

    def noise(self, n: int, update: int = 0) -> Tensor:
        """This step's z on this rank, for its ``update``-th discriminator update."""
        return latent_noise(n, self.latent_dim, self._rng(update, Draw.Z), self.device)

    def _penalties(
        self, real: Tensor, fake: Tensor, labels: Tensor | None, update: int, p: float | None
    ) -> dict[str, Tensor]:
        """The gradient penalties D's loss takes at this ``update``: WGAN-GP's, and R1 (reals) and
        R2 (fakes) every ``r1_every``-th update, scaled by ``r1_every`` (lazy regularization, as
        StyleGAN2)."""
        penalties, critic = {}, lambda x: self.d(x, labels, p)
        if self.loss.gradient_penalty:
            mix_shape = (real.size(0),) + (1,) * (real.dim() - 1)
            mix = torch.rand(mix_shape, generator=self._rng(update, Draw.GP_MIX), device=self.device, dtype=real.dtype)
            penalties["train/gp"] = self.gp_weight * gradient_penalty(critic, real, fake, mix)
        if (self.global_step * self.d_steps_per_g + update) % self.r1_every == 0:
            for name, gamma, images in (("train/r1", self.r1_gamma, real), ("train/r2", self.r2_gamma, fake)):
                if gamma:
                    penalties[name] = 0.5 * gamma * self.r1_every * r1_penalty(critic, images)
        return penalties

    def _sum_over_ranks(self, values: Tensor) -> Tensor:
        return self.trainer.strategy.reduce(values, reduce_op="sum") if self.trainer.world_size > 1 else values

    def _last_iteration(self) -> bool:
        """Whether this step is the run's last: its scalars are logged whatever the interval."""
        trainer = self.trainer
        if trainer.fast_dev_run or 0 < trainer.max_steps <= self.global_step + 1:
            return True
        return trainer.is_last_batch and 0 < (trainer.max_epochs or -1) <= self.current_epoch + 1

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        opt_g = instantiate(self.hparams.g_optimizer)(self.generator.parameters())
        opt_d = instantiate(self.hparams.d_optimizer)(self.discriminator.parameters())
        return [opt_g, opt_d]

    def training_step(self, batch: Tensor | tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        opt_g, opt_d = self.optimizers()
        # Lightning writes scalars on iterations where (step + 1) % log_every_n_steps == 0;
        # calling self.log on the others costs ~15% of a vanilla-GAN step on a CPU, for nothing.
        log_now = (self.global_step + 1) % self.trainer.log_every_n_steps == 0 or self._last_iteration()
        images, labels = batch if isinstance(batch, tuple | list) else (batch, None)
        p = float(self.ada.p) if self.ada is not None else None  # this step's augmentation probability
        if self.augment:  # kornia draws from torch's global generator
            torch.manual_seed(step_key(self.seed, self.global_rank, self.global_step, 0, Draw.AUGMENT))
        images = images.contiguous(memory_format=self.memory_format) if images.dim() == 4 else images
        # The batch holds one batch per D update (data.batches_per_step = model.d_steps_per_g).
        n = self.d_steps_per_g
        batches = zip(images.chunk(n), labels.chunk(n) if labels is not None else [None] * n, strict=True)

        # Discriminator: one update per batch, each against its own fakes (of the batch's classes,
        # for a conditional GAN). Fakes are detached: D's loss must not send gradients into G.
        for update, (real, classes) in enumerate(batches):
            with torch.set_grad_enabled(update == n - 1):  # the last batch's fakes also train G
                fake = self.generator(self.noise(real.size(0), update), classes)
            self.toggle_optimizer(opt_d)
            real_out, fake_out = self.d(real, classes, p), self.d(fake.detach(), classes, p)
            penalties = self._penalties(real, fake, classes, update, p)
            d_loss = self.loss.discriminator(real_out, fake_out)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss + sum(penalties.values()) if penalties else d_loss)
            with step_not_counted(opt_d):
                opt_d.step()
            self.untoggle_optimizer(opt_d)
            if self.ada is not None:  # p moves after every 4th D update, from there on
                d_updates, reals = self.global_step * n + update + 1, real.size(0) * self.trainer.world_size
                self.ada.after_d_update(real_out, d_updates, reals, self._sum_over_ranks)

        # Generator, against the discriminator just updated, on the last D update's batch: its
        # reals (a relativistic loss pairs them with the fakes), its classes and its fakes.
        g_real, g_fake, g_classes = real, fake, classes
        self.toggle_optimizer(opt_g)
        paired = None
        if self.loss.generator_takes_real:  # the updated D's outputs on the reals
            with torch.no_grad():
                paired = self.d(g_real, g_classes, p)
        g_loss = self.loss.generator(self.d(g_fake, g_classes, p), paired)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        if self.generator_ema is not None:
            images_seen = g_fake.size(0) * self.trainer.world_size
            decay = ema_decay_at(self.ema_decay, self.ema_rampup, self.global_step, images_seen)
            update_ema(self.generator_ema, self.generator, decay)

        # D's outputs as the loss reads them: probabilities for BCE, raw scores otherwise.
        metrics = {
            "train/d_loss": d_loss.detach(),
            "train/g_loss": g_loss.detach(),
            "train/d_real": self.loss.outputs(real_out.detach()),
            "train/d_fake": self.loss.outputs(fake_out.detach()),
        }
        extra = {name: value.detach() for name, value in penalties.items()}
        if self.ada is not None:
            extra |= {"train/augment_p": self.ada.p.float(), "train/ada_rt": self.ada.rt.float()}
        if self.loss.equilibrium:  # how far both losses are from where D cannot tell
            d_eq, g_eq = self.loss.equilibrium
            extra["train/equilibrium_gap"] = (d_loss.detach() - d_eq).abs() + (g_loss.detach() - g_eq).abs()
        if log_now:
            self.log_dict(metrics, prog_bar=True)
            # "step" sets the x of these scalars (Lightning's own is one less): the iteration
            # count, as the grids', the checkpoints' and the scores' of the same iteration.
            self.log_dict({**extra, "step": float(self.global_step)})
        # For callbacks, still on the device (no sync here): the divergence guard reads the
        # losses, D(G(z)) and the fakes on its own schedule.
        return {**metrics, **extra, "fake": g_fake.detach()}


_ARGUMENTS = tuple(inspect.signature(GANModule.__init__).parameters)[1:]  # all but self
