"""Train a GAN, composed by Hydra from ``conf/``.

    gan-train                                     # vanilla GAN on MNIST, on the CPU
    gan-train trainer.max_epochs=1 data.batch_size=128
    gan-train model.g_optimizer.lr=1e-4 seed=1 trainer.deterministic=true
    gan-train trainer=gpu                         # one GPU
    gan-train trainer=ddp                         # every GPU of this node
    gan-train experiment=mnist_dcgan32            # DCGAN, small enough for a CPU
    gan-train experiment=celeba_dcgan data.root=/datasets/celeba/img_align_celeba
    gan-train ckpt_path=logs/train/runs/<run>     # resume that run, in the same directory
    gan-train debug=fdr                           # one batch through everything, nothing written
    tensorboard --logdir logs

``python -m gan_lightning.train ...`` is the same command.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gan_lightning.callbacks import LastCheckpoint, LogRunConfig
from gan_lightning.callbacks.checkpoint import find_checkpoint, run_dir_of
from gan_lightning.checks import check_config, check_resume, load_checkpoint
from gan_lightning.errors import UserError, find_reported_error
from gan_lightning.sweep import objective, write_result

log = logging.getLogger(__name__)

# Lightning's own use of a torch API deprecated in torch 2.14; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def checkpoint_file(ckpt_path: str | None) -> str | None:
    """``ckpt_path`` may name a checkpoint file or a run directory (its ``checkpoints/last.ckpt``)."""
    return None if ckpt_path is None else str(find_checkpoint(ckpt_path, label=f"ckpt_path={ckpt_path}"))


def _resume_run_dir(ckpt_path: str | None) -> Path | None:
    """The run directory a checkpoint belongs to, if it is one of ours (it has ``.hydra/``)."""
    if not ckpt_path:
        return None
    run_dir = run_dir_of(ckpt_path)
    return run_dir if (run_dir / ".hydra").is_dir() else None


def _run_dir(ckpt_path: str | None, new_run_dir: str) -> str:
    """Hydra's run directory: a resumed run writes into its own directory again."""
    return str(_resume_run_dir(ckpt_path) or new_run_dir)


def _config_subdir(ckpt_path: str | None) -> str:
    """Keep the first config of a resumed run; each resume saves its own beside it."""
    if _resume_run_dir(ckpt_path) is None:
        return ".hydra"
    return f".hydra/resume_{datetime.now():%Y-%m-%d_%H-%M-%S}"


OmegaConf.register_new_resolver("gan_run_dir", _run_dir, replace=True)
OmegaConf.register_new_resolver("gan_config_subdir", _config_subdir, replace=True)


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    return [instantiate(node) for node in (group or {}).values() if node and "_target_" in node]


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def train(cfg: DictConfig, extra_callbacks: list[Callback] = ()) -> dict[str, float]:
    """Build everything from ``cfg`` (plus ``extra_callbacks``), fit, and return the final
    logged metrics."""
    check_config(cfg)
    ckpt_path = checkpoint_file(cfg.get("ckpt_path"))
    if ckpt_path:
        finished = check_resume(cfg, ckpt_path, load_checkpoint(ckpt_path))
        if finished:
            log.warning("Nothing to do: the run in %s is %s", ckpt_path, finished)
            return {}
    seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, _recursive_=False)
    callbacks: list[Callback] = _instantiate_all(cfg.get("callbacks"))
    run_config = OmegaConf.to_container(cfg, resolve=True)
    callbacks += [LogRunConfig(run_config), *extra_callbacks]
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if _in_multirun() and isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher):
        raise UserError(
            "-m with a multi-process trainer: Lightning would start this command again per process, "
            "sweep and all. Sweep with one process per run (trainer=gpu), or launch the sweep on a "
            "cluster with hydra/launcher=submitit_slurm, where each run gets its own processes"
        )

    with warnings.catch_warnings():
        if ckpt_path:
            log.info("Resuming from %s", ckpt_path)
            # A resumed run's checkpoint directory holds its earlier checkpoints by design.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)

    if any(isinstance(cb, LastCheckpoint) and cb.interrupted for cb in callbacks):
        raise KeyboardInterrupt
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float:
    """Train, record ``result.json`` in the run directory, return the objective for sweepers."""
    hydra_cfg = HydraConfig.get()
    run_dir, overrides = Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)
    try:
        metrics = train(cfg)
    except KeyboardInterrupt:
        print(f"Interrupted. Resume with: gan-train ckpt_path={run_dir}", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        reported = find_reported_error(err)
        if _in_multirun():  # one failed run must not end the sweep: record it and go on
            if reported is None:
                log.exception("run %s failed", run_dir)
            message = str(reported) if reported else f"{type(err).__name__}: {err}"
            write_result(run_dir, overrides, {}, math.inf, message, cfg.optimized_metric)
            print(f"error: {message}", file=sys.stderr)
            return math.inf
        if reported is None:
            raise
        print(f"error: {reported}", file=sys.stderr)
        sys.exit(reported.exit_code)
    value = objective(metrics, cfg.optimized_metric)
    missing = ""
    if metrics and math.isnan(value) and cfg.optimized_metric not in metrics:
        missing = f"optimized_metric={cfg.optimized_metric} was not logged (val/* needs callbacks.sample_quality)"
        log.warning(missing)
    # Empty metrics: a resumed run had nothing left to do, its result stands. Under DDP the
    # process of global rank 0 speaks for the run.
    if metrics and rank_zero_only.rank == 0:
        write_result(run_dir, overrides, metrics, value, missing, cfg.optimized_metric)
    return value


if __name__ == "__main__":
    main()
