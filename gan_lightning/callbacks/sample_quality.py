"""Scores samples during training: FID, KID and IS every few epochs, as ``val/*`` metrics."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.metrics.scores import FIDELITY_WEIGHTS, MetricUnavailable, SampleScores, as_float_batches
from gan_lightning.plumbing.errors import UserError
from gan_lightning.protocols import ScoredData
from gan_lightning.sampling import sample_batches

log = logging.getLogger(__name__)

SMOKE_SAMPLES = 16  # scored under trainer.fast_dev_run (debug=fdr): the path runs, in seconds
NUM_SAMPLES, CPU_INCEPTION_SAMPLES = 5000, 1000  # the defaults; gan-eval's too, for a run that kept none


def scoring_count(num_samples: int, features: str, on_cpu: bool, cpu_inception_samples: int | None) -> int:
    """Samples per scoring: ``num_samples``, or with Inception on a CPU ``cpu_inception_samples``
    where that is fewer (null: ``num_samples``)."""
    if features == "inception" and on_cpu and cpu_inception_samples:
        return min(num_samples, int(cpu_inception_samples))
    return num_samples


def default_features(datamodule: ScoredData) -> str:
    """The feature network a data module names as its scorer (``scored_by``: ``mnist``,
    ``stacked_mnist``, ``fashionmnist``), else Inception."""
    return datamodule.scored_by or "inception"


def _timers(trainer: Trainer) -> list:
    from lightning.pytorch.callbacks import Timer

    return [c for c in trainer.callbacks if isinstance(c, Timer)]


def _out_of_time(trainer: Trainer) -> bool:
    """Whether ``trainer.max_time`` has run out (Lightning's Timer then stops the run), rank 0's
    clock deciding for every rank, as the Timer's own check does."""
    spent = any((timer.time_remaining() or 0) <= 0 for timer in _timers(trainer) if timer.time_remaining() is not None)
    return bool(trainer.strategy.broadcast(spent, src=0))


def _exclude_from_budget(trainer: Trainer, seconds: float) -> None:
    """``trainer.max_time`` budgets training, not scoring: the seconds a scoring took are given
    back to Lightning's Timer (its elapsed time is its clock plus an offset, the offset being
    what a resumed run had used). So runs of one budget train as long whether they score
    every epoch or once, and a checkpoint's Timer state counts training alone. A Lightning whose
    Timer keeps no such offset counts scoring as before (a test here checks this one does)."""
    for timer in _timers(trainer):
        if isinstance(getattr(timer, "_offset", None), (int, float)):
            timer._offset -= seconds


class SampleQuality(Callback):
    """At the end of every ``every_n_epochs``-th epoch (and of the last), scores ``num_samples``
    generated images against as many real ones of the data module's ``reference_images``
    (MNIST's test split): every metric of ``metrics`` (None: all that apply) as ``val/<key>``,
    ``val/<key>_ema`` for an EMA generator, plus ``val/eval_seconds``. ``every_n_epochs=0`` or
    ``metrics=[]``: no scoring at all. A checkpoint callback monitoring ``val/fid``
    keeps the best generator. When the feature network cannot be built (Inception weights
    offline), one warning says why and training goes on unscored.

    Under DDP each rank scores its share of samples; torchmetrics gathers the statistics.
    """

    def __init__(
        self,
        features: str = "auto",
        every_n_epochs: int = 1,
        num_samples: int = NUM_SAMPLES,
        batch_size: int = 500,
        inception_weights: str | None = None,
        seed: int = 0,
        metrics: list[str] | None = None,
        cpu_inception_samples: int | None = CPU_INCEPTION_SAMPLES,
        inception_bf16: bool = True,
    ) -> None:
        self.features = features
        self.metrics = list(metrics) if metrics is not None else None  # None: every registered one
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.cpu_inception_samples, self.inception_bf16 = cpu_inception_samples, inception_bf16
        self.batch_size = batch_size
        self.inception_weights = inception_weights
        self.seed = seed
        self.scores: SampleScores | None = None
        self.scored_epoch: int | None = None  # the epoch the logged val/* belong to
        self._epoch_start = 0.0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # A resume starts mid-epoch, without on_train_epoch_start: its share of the epoch is
        # measured against the part of the epoch this command trained.
        self._epoch_start = time.perf_counter()
        if self.every_n_epochs == 0 or self.metrics == []:  # scoring off, as asked
            return
        features = default_features(trainer.datamodule) if self.features == "auto" else self.features
        try:
            scores = SampleScores(
                features,
                inception_weights=self.inception_weights,
                metrics=self.metrics,
                inception_bf16=self.inception_bf16,
            )
        except (MetricUnavailable, UserError) as err:  # no weights: the run itself is fine
            if trainer.is_global_zero:
                log.warning("No val/fid for this run: %s", err)
            return
        if not getattr(scores.network, "has_logits", True) and trainer.is_global_zero:
            log.warning(
                "No val/is for this run: the TorchScript Inception (%s) has no logits; val/fid and val/kid are "
                "computed. torch-fidelity's %s gives IS too.",
                *(scores.network.path, FIDELITY_WEIGHTS),
            )
        self.scores = scores.to(pl_module.device)
        self.num_samples = self._count(trainer, pl_module, features)
        reals = self._real_share(trainer)
        if trainer.is_global_zero:
            self._say_cost(trainer, pl_module, reals)
        self.scores.add_real(as_float_batches(reals, self.batch_size, pl_module.device))

    def _count(self, trainer: Trainer, pl_module: LightningModule, features: str) -> int:
        """Samples per scoring: ``num_samples``; fewer in a smoke run, and with Inception on a CPU
        (``cpu_inception_samples``), each time said in a line."""
        if trainer.fast_dev_run:
            count, why = min(SMOKE_SAMPLES, self.num_samples), "trainer.fast_dev_run: a smoke run"
        else:
            on_cpu = pl_module.device.type == "cpu"
            count = scoring_count(self.num_samples, features, on_cpu, self.cpu_inception_samples)
            why = (
                "Inception on a CPU (callbacks.sample_quality.cpu_inception_samples; null: num_samples). FID "
                "over fewer samples reads higher: compare runs scored at the same count"
            )
        if count < self.num_samples and trainer.is_global_zero:
            log.info("Scoring %d samples, not %d: %s", count, self.num_samples, why)
        return count

    def _say_cost(self, trainer: Trainer, pl_module: LightningModule, reals: torch.Tensor | np.ndarray) -> None:
        """Times the feature network on a few real images and says what a scoring will cost,
        when that is more than a few seconds (Inception on a CPU)."""
        probe = next(as_float_batches(reals[:8], 8, pl_module.device))
        with torch.no_grad():
            self.scores.network(probe)  # the first call of a TorchScript network compiles it
            start = time.perf_counter()
            self.scores.network(probe)
        rate = len(probe) / max(time.perf_counter() - start, 1e-9)
        generators = 2 if getattr(pl_module, "generator_ema", None) is not None else 1
        per_rank = math.ceil(self.num_samples / trainer.world_size)
        first, then = (1 + generators) * per_rank / rate, generators * per_rank / rate
        if first > 10:
            log.info(
                "Scoring costs about %.0f s now (the real images' features) and %.0f s at each scoring: "
                "the feature network reads %.1f images/s here",
                *(first - then, then, rate),
            )

    def _real_share(self, trainer: Trainer) -> torch.Tensor | np.ndarray:
        """This rank's share of ``num_samples`` real images drawn (seeded) from the reference."""
        reference = trainer.datamodule.reference_images()
        chosen = torch.randperm(len(reference), generator=torch.Generator().manual_seed(self.seed))
        share = np.sort(chosen[: self.num_samples][trainer.global_rank :: trainer.world_size].numpy())
        if torch.is_tensor(reference):
            return reference[torch.from_numpy(share).to(reference.device)]
        return reference[share]  # memory-mapped: reads just these images

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def _due(self, trainer: Trainer, out_of_time: bool) -> bool:
        """Whether this epoch is scored; ``out_of_time``: trainer.max_time spent, the run's end."""
        epoch, max_epochs = trainer.current_epoch + 1, trainer.max_epochs or -1  # -1: no limit
        last = 0 < max_epochs <= epoch or 0 < trainer.max_steps <= trainer.global_step or out_of_time
        # A run stopped by a signal (or pruned) ends its epoch early: no scores for it.
        stopped = trainer.should_stop and not out_of_time
        return self.scores is not None and not stopped and (epoch % self.every_n_epochs == 0 or last)

    @torch.no_grad()
    def score(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """``val/<metric>`` of the generator, ``val/<metric>_ema`` of the EMA one, for every
        metric of the registry that applies (``fid``, ``kid``, ``is``; ``modes``, ``class_kl``
        for MNIST-like data)."""
        metrics = {}
        per_rank = math.ceil(self.num_samples / trainer.world_size)
        seed, device, classes = self.seed + trainer.global_rank, pl_module.device, pl_module.num_classes
        for suffix, generator in (("", pl_module.generator), ("_ema", getattr(pl_module, "generator_ema", None))):
            if generator is None:
                continue
            fakes = sample_batches(generator, per_rank, pl_module.latent_dim, self.batch_size, seed, device, classes)
            values = self.scores.score(fakes, seed=self.seed)
            metrics.update({f"val/{name}{suffix}": v for name, v in values.items() if not name.endswith("_std")})
        return metrics

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Asked before scoring: a scoring that itself crosses the budget is given back too, and
        # only the budget's last scoring (time already out) leaves it spent, as resumes read it.
        spent = _out_of_time(trainer)
        if not self._due(trainer, spent):
            return
        if trainer.is_global_zero:  # scoring can take minutes (Inception on a CPU): say it began
            log.info("epoch %d: scoring %d samples", trainer.current_epoch, self.num_samples)
        trainer.should_stop = trainer.should_stop or spent  # as the Timer would at its next check
        start = time.perf_counter()
        metrics = self.score(trainer, pl_module)
        seconds = time.perf_counter() - start
        if not spent:
            _exclude_from_budget(trainer, seconds)
        if trainer.is_global_zero:
            share = 100 * seconds / max(time.perf_counter() - self._epoch_start, 1e-9)
            shown = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())
            epoch = trainer.current_epoch
            log.info("epoch %d: %s (scored in %.1f s, %.0f%% of the epoch)", epoch, shown, seconds, share)
        self.scored_epoch = trainer.current_epoch
        # Every rank computed the same gathered values; sync_dist averages identical numbers
        # (a few scalars), and spares DDP runs Lightning's warning about epoch-level logging.
        if "val/fid" in metrics:  # on the progress bar, when it is among the metrics chosen
            pl_module.log("val/fid", metrics.pop("val/fid"), prog_bar=True, sync_dist=True)
        # At the step of the epoch's last iteration, as its scalars, grid and checkpoints.
        pl_module.log_dict({**metrics, "val/eval_seconds": seconds, "step": float(trainer.global_step)}, sync_dist=True)
