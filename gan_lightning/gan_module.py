"""The LightningModule every GAN here trains with: alternating D then G updates, BCE losses."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from lightning.pytorch.core.optimizer import LightningOptimizer
from omegaconf import DictConfig, OmegaConf

from gan_lightning.losses import discriminator_loss, generator_loss


def _plain(cfg: Any) -> Any:
    """Configs become plain dicts so checkpoints load without Hydra's config objects."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


@contextmanager
def _step_not_counted(optimizer: LightningOptimizer) -> Iterator[None]:
    """Run ``optimizer.step()`` without Lightning counting it as a global step.

    Lightning counts every manual ``optimizer.step()``; with two optimizers ``global_step``
    would double. Leaving D's step uncounted makes one (D, G) iteration one step, so
    ``max_steps``, checkpoint intervals and the TensorBoard x-axis all count iterations.
    """
    before, after = optimizer._on_before_step, optimizer._on_after_step
    optimizer._on_before_step = optimizer._on_after_step = lambda: None
    try:
        yield
    finally:
        optimizer._on_before_step, optimizer._on_after_step = before, after


class GANModule(LightningModule):
    """Holds ``generator`` and ``discriminator`` (built from ``_target_`` configs) and trains them.

    Each training step is one discriminator update (real -> 1, detached fakes -> 0) then one
    non-saturating generator update (fakes -> 1). ``fixed_noise`` is a buffer, so sample grids
    use the same z for the whole run, across resumes. Each step's z is a function of
    (``seed``, rank, step) alone: DDP ranks draw different z, and a resumed run draws exactly
    the z an uninterrupted one would, with no random-generator state to checkpoint.
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
        channels_last: bool = False,
        compile: bool = False,
        compile_backend: str = "inductor",
        ema_decay: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "generator": _plain(generator),
                "discriminator": _plain(discriminator),
                "g_optimizer": _plain(g_optimizer),
                "d_optimizer": _plain(d_optimizer),
                "latent_dim": latent_dim,
                "num_fixed_samples": num_fixed_samples,
                "seed": seed,
                "channels_last": channels_last,
                "compile": compile,
                "compile_backend": compile_backend,
                "ema_decay": ema_decay,
            },
            logger=False,
        )
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        self.seed = seed
        self.generator = instantiate(self.hparams.generator)
        self.discriminator = instantiate(self.hparams.discriminator)
        fixed = torch.randn(num_fixed_samples, latent_dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("fixed_noise", fixed)
        # An exponential moving average of G's weights: a submodule, so it is checkpointed and
        # resumed with the rest; never trained, only updated after each generator step.
        self.ema_decay = ema_decay
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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def on_train_start(self) -> None:
        # A resume restores each optimizer's hyperparameters with its state; this run's
        # config wins, so `ckpt_path=... model.g_optimizer.lr=1e-4` really lowers the lr.
        configs = (self.hparams.g_optimizer, self.hparams.d_optimizer)
        for optimizer, config in zip(self.optimizers(), configs, strict=True):
            settings = instantiate(config)([torch.zeros(1)]).param_groups[0]
            for group in optimizer.optimizer.param_groups:
                group.update({key: value for key, value in settings.items() if key != "params"})

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * weights; BatchNorm statistics are copied."""
        ema, live = self.generator_ema.state_dict(), self.generator.state_dict()
        floats = [name for name, value in ema.items() if value.is_floating_point() and "running_" not in name]
        torch._foreach_lerp_([ema[n] for n in floats], [live[n] for n in floats], 1.0 - self.ema_decay)
        for name, value in ema.items():
            if name not in floats:
                value.copy_(live[name])

    def noise(self, n: int) -> torch.Tensor:
        """This step's z on this rank."""
        key = hash((self.seed, self.global_rank, self.global_step)) % 2**63
        generator = torch.Generator(device=self.device).manual_seed(key)
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

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

    def training_step(self, real: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        opt_g, opt_d = self.optimizers()
        # Lightning writes scalars on iterations where (step + 1) % log_every_n_steps == 0;
        # calling self.log on the others costs ~15% of a vanilla-GAN step on a CPU, for nothing.
        log_now = (self.global_step + 1) % self.trainer.log_every_n_steps == 0 or self._last_iteration()
        real = real.contiguous(memory_format=self.memory_format) if real.dim() == 4 else real
        fake = self.generator(self.noise(real.size(0)))

        # Discriminator. Fakes are detached: D's loss must not send gradients into G.
        self.toggle_optimizer(opt_d)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        d_loss = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        with _step_not_counted(opt_d):
            opt_d.step()
        self.untoggle_optimizer(opt_d)

        # Generator, against the discriminator just updated.
        self.toggle_optimizer(opt_g)
        g_loss = generator_loss(self.discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        if self.generator_ema is not None:
            self.update_ema()

        # Probabilities are for reporting only; the losses use logits.
        metrics = {
            "train/d_loss": d_loss.detach(),
            "train/g_loss": g_loss.detach(),
            "train/d_real": torch.sigmoid(real_logits.detach()).mean(),
            "train/d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }
        if log_now:
            self.log_dict(metrics, prog_bar=True)
        # Returned for callbacks (the divergence guard), still on the device: no sync here.
        return {**metrics, "fake_finite": torch.isfinite(fake.detach()).all()}
