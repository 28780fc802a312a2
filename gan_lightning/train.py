"""Train a GAN, composed by Hydra from ``conf/``.

    gan-train                                     # vanilla GAN on MNIST, on the CPU
    gan-train trainer.max_epochs=1 data.batch_size=128
    gan-train model.g_optimizer.lr=1e-4 seed=1 trainer.deterministic=true
    gan-train trainer=gpu                         # one GPU
    gan-train trainer=ddp                         # every GPU of this node
    gan-train experiment=mnist_dcgan32            # DCGAN, small enough for a CPU
    gan-train experiment=celeba_dcgan data.root=/datasets/celeba/img_align_celeba
    gan-train ckpt_path=logs/train/runs/<run>     # resume that run as itself, in its directory
    gan-train debug=fdr                           # one batch through everything, nothing written
    tensorboard --logdir logs

``python -m gan_lightning.train ...`` is the same command.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan_lightning.plumbing import paths
from gan_lightning.plumbing.console import quiet
from gan_lightning.plumbing.errors import DEBUG_ENV, UserError, chain, command, find_reported_error
from gan_lightning.plumbing.startup import load_heavy
from gan_lightning.run.checks import check_batchnorm, check_config
from gan_lightning.run.extensions import import_extensions
from gan_lightning.run.life import Run, in_multirun, typed_overrides
from gan_lightning.run.lock import RunLock, is_rank_zero
from gan_lightning.run.overrides import restore_overrides
from gan_lightning.run.records import final_metrics
from gan_lightning.sweep.results import RESULT

if TYPE_CHECKING:
    from lightning.pytorch import Callback

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parent / "conf"  # package data: travels with a wheel

OmegaConf.register_new_resolver("gan_run_dir", paths.run_dir, replace=True)
OmegaConf.register_new_resolver("gan_config_subdir", paths.config_subdir, replace=True)


def _build(node: DictConfig, **kwargs: Any) -> Any:
    """``instantiate``, with a failure we report (a bad value) raised as itself, not wrapped, and
    a ``_target_`` that cannot be imported (a mistyped class) as bad input."""
    try:
        return instantiate(node, **kwargs)
    except Exception as err:
        reported = find_reported_error(err)
        for link in chain(err) if reported is None else ():
            if unlocated := re.match(r"Error locating target '([^']+)'", str(link)):
                cause = str(link.__cause__ or link).strip().splitlines()[-1]
                reported = UserError(f"_target_={unlocated[1]}: cannot be imported ({cause})")
                break
        raise reported or err from err


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    return [_build(node) for node in (group or {}).values() if node and "_target_" in node]


def train(cfg: DictConfig, extra_callbacks: Sequence[Callback] = (), restored: Sequence[str] = ()) -> dict[str, float]:
    """Build everything from ``cfg`` (plus ``extra_callbacks``), fit, and return the final
    logged metrics, ``iterations`` (the run's step count) and ``epochs``; ``{}`` when a resumed
    run has nothing left to do. ``restored``: the run's own overrides a resume put back."""
    with Run(cfg, restored) as run:
        import_extensions(cfg.get("imports"))  # a user's losses, metrics, augmentations: known to the checks
        check_config(cfg, sweep=in_multirun())  # before torch is even imported: a bad value answers at once
        ckpt_path = run.resume()
        if run.finished:  # its result.json is written again if it went missing
            return {} if (run.dir / RESULT).is_file() else run.final_metrics
        load_heavy()  # Lightning: most of the start-up, made shorter there
        from lightning.pytorch import Trainer, seed_everything

        quiet()
        seed_everything(cfg.seed, workers=True)
        datamodule = _build(cfg.data)
        classes = datamodule.num_classes if cfg.model.get("conditional") else 0  # from the data
        model = _build(cfg.model, _recursive_=False, num_classes=classes)
        check_batchnorm((model.generator, model.discriminator), int(cfg.data.batch_size))
        # The run's own first: a stop it decides at an iteration is seen by last.ckpt's callback.
        callbacks = [*run.callbacks(), *_instantiate_all(cfg.get("callbacks")), *extra_callbacks]
        loggers = _instantiate_all(cfg.get("logger"))
        trainer: Trainer = _build(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        with warnings.catch_warnings():
            # A resumed run's checkpoint directory holds its earlier checkpoints by design.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        run.end(trainer)
    return final_metrics(trainer)


def _task(cfg: DictConfig, restored: list[str]) -> float:
    """One run: train, record ``result.json`` in the run directory, return the objective."""
    from gan_lightning.sweep.trial import Trial

    trial = Trial(cfg, Path(HydraConfig.get().runtime.output_dir), typed_overrides(), in_multirun())
    try:
        metrics = train(cfg, extra_callbacks=trial.callbacks, restored=restored)
    except Exception as err:
        return trial.fail(err)
    return trial.finish(metrics, dry=bool(cfg.trainer.get("fast_dev_run")))


@command
def main() -> None:
    """``gan-train``: a resume restores the run's own overrides, and a run in use by another
    process is refused before anything is written into it."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        os.environ[DEBUG_ENV] = "1"  # the user asked for tracebacks
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors; `command` makes them one line
    args, restored = restore_overrides(sys.argv[1:])
    ckpt = next((a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("ckpt_path=")), None)
    if ckpt and is_rank_zero():
        RunLock(paths.run_dir_of(ckpt)).check_free()
    sys.argv = [sys.argv[0], *args]  # what Hydra parses

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
    def task(cfg: DictConfig) -> float:
        return _task(cfg, restored)

    try:
        task()
    except OSError as err:
        if err.filename is None or _raised_in_task(err):
            raise
        # Hydra creates the run directory (and writes its config) before the task starts.
        raise UserError(f"cannot create the run directory: {err.filename}: {err.strerror}") from err


def _raised_in_task(err: BaseException) -> bool:
    return any(frame.f_code is _task.__code__ for frame, _ in traceback.walk_tb(err.__traceback__))


if __name__ == "__main__":
    main()
