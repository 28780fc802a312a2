"""How a sweep, its runs and its summary reach the sweep's Optuna study: its storage, its pruner,
and a trial by number, through Optuna's public API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from gan_lightning.plumbing.errors import UserError
from gan_lightning.sweep.results import STUDY_FILE

JOURNAL = "optuna.journal"


PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
}


def make_pruner(name: str, options: dict[str, Any] | None = None) -> optuna.pruners.BasePruner:
    if name not in PRUNERS:
        raise UserError(f"hydra.sweeper.pruner={name}: must be one of {', '.join(PRUNERS)}")
    return PRUNERS[name](**(options or {})) if name != "none" else PRUNERS[name]()


def open_storage(url: str | None, sweep_dir: Path) -> optuna.storages.BaseStorage:
    """The study's storage: an RDB URL's, or the journal file in the sweep directory."""
    if url:
        return optuna.storages.get_storage(url)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))


def _open(sweep_dir: Path) -> tuple[optuna.Study, optuna.storages.BaseStorage, str]:
    """The sweep's study (with its pruner), its storage and its name, from ``study.json``."""
    about = json.loads((sweep_dir / STUDY_FILE).read_text())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage, name = open_storage(about["storage"], sweep_dir), about["study_name"]
    pruner = make_pruner(about["pruner"], about.get("pruner_args"))
    return optuna.load_study(study_name=name, storage=storage, pruner=pruner), storage, name


def load_study(sweep_dir: Path) -> optuna.Study:
    """The study of ``sweep_dir``, as a run of it or a summary needs it (with its pruner)."""
    return _open(sweep_dir)[0]


def load_trial(sweep_dir: Path, number: int) -> optuna.Trial:
    """Trial ``number`` of the sweep's study, for a run (in its own process) to report to."""
    study, storage, name = _open(sweep_dir)
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(name), number)
    return optuna.trial.Trial(study, trial_id)
