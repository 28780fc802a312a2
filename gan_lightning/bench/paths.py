"""The measured paths: the template's own training, and plain PyTorch loops to hold it against."""

from __future__ import annotations

import resource
import tempfile
import time
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch import Callback
from omegaconf import DictConfig

from gan_lightning.bench.modes import FP32_DEFAULTS
from gan_lightning.bench.roof import RecordIteration, measure_roof
from gan_lightning.losses import get_loss
from gan_lightning.randomness import latent_noise


class _Clock(Callback):
    """The wall-clock time of the first iteration's end, and times the iterations after ``warmup``."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.first = warmup, 0.0, 0.0, 0.0

    def on_train_batch_end(self, trainer, *args: Any) -> None:
        self.first = self.first or time.time()
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def compose_config(overrides: list[str], output_dir: str) -> DictConfig:
    from gan_lightning.train import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides])


def _template(cfg: DictConfig, warmup: int, steps: int) -> tuple[float, float]:
    from gan_lightning.train import train

    clock = _Clock(warmup)
    cfg.trainer.max_steps = warmup + steps
    cfg.trainer.enable_progress_bar = False  # a progress bar would garble the table
    train(cfg, extra_callbacks=[clock])
    return steps * cfg.data.batch_size / (clock.end - clock.start), clock.first


def _plain_batches(cfg: DictConfig, workers: int) -> Any:
    """The original scripts' input pipeline: a torchvision data set, per-sample transforms."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    size = cfg.data.image_size
    steps = [transforms.Resize(size)] if size != 28 else []
    steps += [transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]
    dataset_class = getattr(datasets, cfg.data._target_.rsplit(".", 1)[-1].removesuffix("DataModule"))
    dataset = dataset_class(cfg.data.root or cfg.data.default_root, train=True, transform=transforms.Compose(steps))
    loader = DataLoader(dataset, batch_size=cfg.data.batch_size, shuffle=True, num_workers=workers, drop_last=True)
    while True:
        for images, _ in loader:
            yield images


def _memory_batches(cfg: DictConfig) -> Any:
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    while True:
        for batch in datamodule.train_dataloader():
            yield datamodule.on_after_batch_transfer(batch, 0)


def _optimizer(config: DictConfig, parameters: Any) -> torch.optim.Optimizer:
    """The configured optimizer with torch's own defaults for its implementation, as a plain
    script would build it (no fused kernel asked for)."""
    return instantiate(config, **({"fused": None} if "fused" in config else {}))(parameters)


def _plain(cfg: DictConfig, batches: Any, warmup: int, steps: int, freeze_d: bool = False) -> tuple[float, float]:
    """The seed scripts' loop, D then G, in fp32, with the template's networks and losses; with
    ``freeze_d``, G's backward pass skips D's weight gradients, as the template's does."""
    torch.manual_seed(cfg.seed)
    model, loss = cfg.model, get_loss(cfg.model.loss)
    generator, discriminator = instantiate(model.generator), instantiate(model.discriminator)
    opt_g, opt_d = (
        _optimizer(model.g_optimizer, generator.parameters()),
        _optimizer(model.d_optimizer, discriminator.parameters()),
    )
    start = first = 0.0
    for step, real in enumerate(batches):
        if step == warmup:
            start = time.perf_counter()
        if step == warmup + steps:
            break
        fake = generator(latent_noise(real.size(0), model.latent_dim, None))
        opt_d.zero_grad()
        d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        discriminator.requires_grad_(not freeze_d)
        g_loss = loss.generator(discriminator(fake))
        g_loss.backward()
        discriminator.requires_grad_(True)
        opt_g.step()
        d_loss.item(), g_loss.item()  # the seed scripts print both losses every step
        first = first or time.time()
    return steps * cfg.data.batch_size / (time.perf_counter() - start), first


def measure(mode: str, overrides: list[str], warmup: int, steps: int, workers: int) -> dict[str, float]:
    """One path's images/s, the wall-clock time its first iteration ended and its peak RSS."""
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_config([*overrides, *(FP32_DEFAULTS if mode == "template_fp32" else [])], output_dir)
        if mode.startswith("template"):
            rate, first = _template(cfg, warmup, steps)
        elif mode == "plain":
            rate, first = _plain(cfg, _plain_batches(cfg, workers), warmup, steps)
        else:
            rate, first = _plain(cfg, _memory_batches(cfg), warmup, steps, freeze_d=mode.endswith("frozen_d"))
    return {"rate": rate, "first": first, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def roof(overrides: list[str], min_seconds: float) -> dict[str, Any]:
    """The roof (``roof.measure_roof``) of one template iteration under ``overrides``, with the
    precision it ran at."""
    from gan_lightning.train import train

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_config(overrides, output_dir)
        recorder = RecordIteration(at=2)
        cfg.trainer.max_steps, cfg.trainer.enable_progress_bar = 4, False
        cfg.callbacks, cfg.logger = None, None  # the iteration alone: no scoring, grids or files
        train(cfg, extra_callbacks=[recorder])
    rows = measure_roof(recorder.recorder, int(cfg.data.batch_size), min_seconds)
    return {"precision": str(cfg.trainer.precision), "batch_size": int(cfg.data.batch_size), "rows": rows}
