"""How a sweep's runs get processes: the one check that refuses a trainer that starts its own
processes (the sweeper checks the sweep's config, each run its own, which a sweep may change),
and the torch threads of runs that share the machine."""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig

from gan_lightning.plumbing.errors import UserError
from gan_lightning.run.devices import multi_process


def refuse_multi_process(trainer: DictConfig, launcher_target: str) -> None:
    """A multi-process trainer would start the whole sweep again in each process; a SLURM
    launcher gives each run its own processes, so there it may."""
    if multi_process(trainer) and "SlurmLauncher" not in launcher_target:
        raise UserError(
            "-m with a multi-process trainer: Lightning would start this command again per process, "
            "sweep and all. Sweep with one process per run (trainer=gpu), or launch the sweep on a "
            "cluster with hydra/launcher=submitit_slurm, where each run gets its own processes"
        )


def set_threads_for_parallel_runs(launcher: Any) -> int | None:
    """Under joblib's ``n_jobs`` (or submitit's ``cpus_per_task``), give this run's torch
    ``cores // n_jobs`` threads, so that parallel runs do not spin against each other."""
    cores = os.cpu_count() or 1
    if launcher.get("cpus_per_task"):
        threads = int(launcher.cpus_per_task)
    elif launcher.get("n_jobs") not in (None, 1):
        n_jobs = int(launcher.n_jobs)
        threads = max(1, cores // (n_jobs if n_jobs > 0 else cores))
    else:
        return None
    import torch

    torch.set_num_threads(threads)
    return threads
