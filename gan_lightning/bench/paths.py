"""Training throughput of the template against plain PyTorch loops, on this machine.

    python -m gan_lightning.bench data.root=/datasets                       # vanilla GAN, MNIST
    python -m gan_lightning.bench --steps 100 experiment=mnist_dcgan32 data.root=/datasets

For one experiment (Hydra overrides as for gan-train) it measures images/s after a warm-up,
and the peak resident memory, of:

  template     (a) gan-train's own path: Lightning, callbacks and logging as configured
  plain        (b) a plain PyTorch loop, same networks, batch and losses, fed by a torchvision
                   DataLoader with ToTensor + Normalize, as the original scripts were
  plain_memory (c) the same plain loop fed by the template's in-memory batches
  plain_memory_frozen_d
               (c') (c) with D's weights frozen during G's step, as the template's
                   toggle_optimizer does: the template's arithmetic exactly, so a/c' is
                   Lightning's own overhead

Each measurement runs in a fresh process; the three alternate for --repeats rounds, and the
medians and the ratios a/b and a/c are printed as a Markdown table. (b) needs the data set's
files in torchvision's layout under data.root.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch import Callback
from omegaconf import DictConfig

from gan_lightning.losses import get_loss
from gan_lightning.plumbing.errors import ArgumentParser, command
from gan_lightning.randomness import latent_noise

MODES = ("template", "plain", "plain_memory", "plain_memory_frozen_d")


class _Clock(Callback):
    """Times the iterations after ``warmup``."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_end(self, trainer, *args: Any) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def _compose(overrides: list[str], output_dir: str) -> DictConfig:
    from gan_lightning.train import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides])


def _template(cfg: DictConfig, warmup: int, steps: int) -> float:
    from gan_lightning.train import train

    clock = _Clock(warmup)
    cfg.trainer.max_steps = warmup + steps
    cfg.trainer.enable_progress_bar = False  # a progress bar would garble the table
    train(cfg, extra_callbacks=[clock])
    return steps * cfg.data.batch_size / (clock.end - clock.start)


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


def _plain(cfg: DictConfig, batches: Any, warmup: int, steps: int, freeze_d: bool = False) -> float:
    """The seed scripts' loop, D then G, with the template's networks and losses; with
    ``freeze_d``, G's backward pass skips D's weight gradients, as the template's does."""
    torch.manual_seed(cfg.seed)
    model, loss = cfg.model, get_loss(cfg.model.loss)
    generator, discriminator = instantiate(model.generator), instantiate(model.discriminator)
    opt_g = instantiate(model.g_optimizer)(generator.parameters())
    opt_d = instantiate(model.d_optimizer)(discriminator.parameters())
    start = 0.0
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
    return steps * cfg.data.batch_size / (time.perf_counter() - start)


def _measure(mode: str, overrides: list[str], warmup: int, steps: int, workers: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = _compose(overrides, output_dir)
        if mode == "template":
            rate = _template(cfg, warmup, steps)
        elif mode == "plain":
            rate = _plain(cfg, _plain_batches(cfg, workers), warmup, steps)
        else:
            rate = _plain(cfg, _memory_batches(cfg), warmup, steps, freeze_d=mode.endswith("frozen_d"))
    return rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(__doc__)
    parser.add_argument("--steps", type=int, default=300, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=30, help="iterations before timing starts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (a, b, c)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the plain loop (b)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every measurement in this process: a quick check of the paths, not a measurement "
        "(caches, threads and peak RSS are shared between them)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for gan-train")
    args = parser.parse_args(argv)

    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    context = mp.get_context("spawn")
    for round_ in range(args.repeats):
        for mode in MODES:
            measure = (mode, args.overrides, args.warmup, args.steps, args.workers)
            if args.in_process:
                result = _measure(*measure)
            else:  # a fresh process per measurement: no warm caches, and its own peak RSS
                with ProcessPoolExecutor(1, mp_context=context) as pool:
                    result = pool.submit(_measure, *measure).result()
            results[mode].append(result)
            print(f"round {round_ + 1}/{args.repeats} {mode}: {result[0]:.0f} images/s", flush=True)

    rate = {mode: statistics.median(r for r, _ in results[mode]) for mode in MODES}
    print(f"\n{' '.join(args.overrides) or 'defaults'}: {args.steps} timed iterations, median of {args.repeats}\n")
    print("| path | images/s | peak RSS (MiB) | template ÷ this |")
    print("| --- | --- | --- | --- |")
    for mode in MODES:
        peak = max(m for _, m in results[mode])
        print(f"| {mode} | {rate[mode]:.0f} | {peak:.0f} | {rate['template'] / rate[mode]:.2f} |")


if __name__ == "__main__":
    main()
