"""Where a run lives: its directory, its checkpoints, and the directory of a new run."""

from __future__ import annotations

import functools
import os
from datetime import datetime
from pathlib import Path

from gan_lightning.plumbing.errors import UserError

LAST = "last.ckpt"
CONFIG_DIR = ".hydra"  # Hydra's copy of the composed config and of the overrides typed
# The shipped classifiers' weights, <name>.pt: a name is valid as callbacks.sample_quality.features
# when its file is here (read without torch by the up-front checks).
CLASSIFIER_WEIGHTS = Path(__file__).resolve().parents[1] / "metrics" / "weights"


def shipped_classifiers() -> list[str]:
    return sorted(path.stem for path in CLASSIFIER_WEIGHTS.glob("*.pt"))


def run_dir_of(target: str | Path) -> Path:
    """The run directory named by ``target``: itself, or the run a checkpoint file sits in
    (``<run>/checkpoints/<file>``)."""
    path = Path(target)
    return path if path.is_dir() else path.parent.parent


def find_checkpoint(target: str | Path, label: str | None = None) -> Path:
    """``target`` is a checkpoint file or a run directory (meaning its ``checkpoints/last.ckpt``);
    a missing one is a UserError that starts with ``label`` (default: the target itself)."""
    path = Path(target)
    ckpt = path / "checkpoints" / LAST if path.is_dir() else path
    if not ckpt.is_file():
        raise UserError(f"{label or target}: no checkpoint at {ckpt}")
    return ckpt


def slurm_job() -> str | None:
    """This SLURM batch job's id (``<array job>_<task>`` for arrays, ``.<step>`` for an srun
    step), or None outside one. Interactive allocations do not count: each command there is a
    run of its own."""
    env = os.environ
    if "SLURM_JOB_ID" not in env or "SLURM_NTASKS" not in env:
        return None
    if env.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return None
    job = env["SLURM_JOB_ID"]
    if "SLURM_ARRAY_JOB_ID" in env:
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '0')}"
    return f"{job}.{env['SLURM_STEP_ID']}" if "SLURM_STEP_ID" in env else job


# Both are Hydra resolvers, read more than once: one answer per process, or the second read
# (a DDP launch, a clean-up) would name another second's directory.
@functools.cache
def run_dir(ckpt_path: str | None, runs_dir: str) -> str:
    """Hydra's run directory. A resumed run writes into its own directory again; a SLURM job
    gets one named after the job, so that a requeued job finds its checkpoints; any other run
    gets a new ``<date>_<time>`` directory."""
    if ckpt_path and (run_dir_of(ckpt_path) / CONFIG_DIR).is_dir():
        return str(run_dir_of(ckpt_path))
    job = slurm_job()
    return f"{runs_dir}/slurm-{job}" if job else f"{runs_dir}/{datetime.now():%Y-%m-%d_%H-%M-%S}"


@functools.cache
def config_subdir(ckpt_path: str | None) -> str:
    """Keep the first config of a resumed run; each resume saves its own beside it."""
    if not ckpt_path or not (run_dir_of(ckpt_path) / CONFIG_DIR).is_dir():
        return CONFIG_DIR
    return f"{CONFIG_DIR}/resume_{datetime.now():%Y-%m-%d_%H-%M-%S}"
