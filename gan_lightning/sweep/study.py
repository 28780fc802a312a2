"""The search a sweep runs: its Optuna study in the sweep directory, and the loop the project's
Hydra sweeper drives, resumed where it stopped (the parameters: ``space.py``).

Each run of a sweep is one Optuna trial, in ``<sweep dir>/<trial number>/``. The study's storage
(an Optuna journal file in the sweep directory, or any RDB URL) holds every trial's parameters
and state, so rerunning the sweep's command with ``hydra.sweep.dir=<that sweep>`` finds what is
done, resumes what was running from its ``last.ckpt``, and runs only the rest.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from gan_lightning.plumbing.errors import UserError
from gan_lightning.plumbing.paths import LAST
from gan_lightning.run.checks import check_objective
from gan_lightning.run.lock import RunLock
from gan_lightning.sweep.launch import refuse_multi_process
from gan_lightning.sweep.results import RESULT, STUDY_FILE
from gan_lightning.sweep.space import SEED, SearchSpace
from gan_lightning.sweep.storage import make_pruner, open_storage
from gan_lightning.sweep.summary import summarize

log = logging.getLogger(__name__)

SAMPLERS = ("grid", "tpe", "random")


class Grid(optuna.samplers.GridSampler):
    """Optuna's grid, driven trial by trial: the sweeper, not ``study.optimize``, knows when every
    point is done, so the end of the grid must not call ``study.stop()`` (it raises outside
    ``optimize``)."""

    def after_trial(self, *args: Any, **kwargs: Any) -> None:
        pass


def _sampler(name: str, space: SearchSpace, seed: int | None, options: dict[str, Any]) -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise UserError(f"hydra.sweeper.sampler={name}: must be one of {', '.join(SAMPLERS)}")
    if name == "grid":
        intervals = [p.key for p in space.params.values() if p.choices is None]
        if intervals:
            raise UserError(
                f"{', '.join(intervals)}: an interval cannot be a grid; give a list (a,b,c) or a range, "
                "or sample it with hydra.sweeper.sampler=tpe"
            )
        grid = {key: param.choices for key, param in space.params.items()}
        if space.seeds:
            grid[SEED] = [str(s) for s in space.seeds]
        return Grid(grid, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    return optuna.samplers.RandomSampler(seed=seed)


class Sweep:
    """Runs the trials of one sweep through a Hydra launcher, batch by batch."""

    def __init__(self, options: DictConfig, config: DictConfig, launcher: Any) -> None:
        self.options, self.config, self.launcher = options, config, launcher
        self.dir = Path(config.hydra.sweep.dir)

    def run(self, arguments: list[str]) -> list[Any]:
        options, config = self.options, self.config
        space = SearchSpace.parse(arguments, options.get("params"), config.get("sweep", {}).get("seeds"))
        launcher_target = str(config.hydra.launcher.get("_target_", ""))
        refuse_multi_process(config.trainer, launcher_target)
        check_objective(config)  # every run ranks by it: refused here, before any run starts
        lock = RunLock(self.dir)
        lock.acquire()  # one sweeper per sweep directory
        try:
            self._write_about(space)
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(
                study_name=options.study_name,
                storage=open_storage(options.storage, self.dir),
                sampler=_sampler(options.sampler, space, options.seed, dict(options.get("sampler_args") or {})),
                pruner=make_pruner(options.pruner, dict(options.get("pruner_args") or {})),
                direction=options.direction,
                load_if_exists=True,
            )
            return self._loop(study, space)
        finally:
            lock.release()

    def _write_about(self, space: SearchSpace) -> None:
        """study.json: what a trial's run needs to reach the study; also the guard against
        continuing a sweep with another search."""
        options = self.options
        about = {
            "study_name": options.study_name,
            "storage": options.storage,
            "sampler": options.sampler,
            "direction": options.direction,
            "pruner": options.pruner,
            "pruner_args": OmegaConf.to_container(options.pruner_args) if options.get("pruner_args") else {},
            "params": space.describe(),
        }
        path = self.dir / STUDY_FILE
        if path.is_file():
            before = json.loads(path.read_text())
            if before.get("params") != about["params"] or before.get("sampler") != about["sampler"]:
                raise UserError(
                    f"hydra.sweep.dir={self.dir} holds a sweep of {before.get('sampler')} over "
                    f"{before.get('params')}, not {about['sampler']} over {about['params']}: "
                    "continue it with its own command, or start a new sweep directory"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(about, indent=1))

    def _total(self, space: SearchSpace) -> int:
        per_setting = len(space.seeds or [None])
        if self.options.sampler == "grid":
            points = math.prod(len(p.choices) for p in space.params.values()) * per_setting
            return min(points, self.options.n_trials or points)
        n = self.options.n_trials or 20
        return math.ceil(n / per_setting) * per_setting  # whole settings: every seed of each

    def _batch_size(self) -> int:
        if self.options.get("batch_size"):
            return int(self.options.batch_size)
        launcher = self.config.hydra.launcher
        parallel = int(launcher.get("n_jobs") or launcher.get("array_parallelism") or 1)
        return parallel if parallel > 0 else max(1, (os.cpu_count() or 1) + 1 + parallel)  # joblib: -1 is all cores

    def _loop(self, study: optuna.Study, space: SearchSpace) -> list[Any]:
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state.is_finished() for t in trials)
        to_resume = [t for t in trials if t.state == TrialState.RUNNING]
        total = self._total(space)
        log.info(
            "Sweep %s: %d of %d trials found, %d done, %d to resume, %d to start",
            *(self.dir, len(trials), total, finished, len(to_resume), max(0, total - finished - len(to_resume))),
        )
        distributions = {key: param.distribution() for key, param in space.params.items()}
        if self.options.sampler == "grid" and space.seeds:
            distributions[SEED] = CategoricalDistribution([str(s) for s in space.seeds])
        returns: list[Any] = []
        started = sum(t.state != TrialState.WAITING for t in trials)
        while to_resume or started < total:
            batch = [(t.number, t.params, t.user_attrs.get(SEED), True) for t in to_resume[: self._batch_size()]]
            to_resume = to_resume[len(batch) :]
            while not to_resume and started < total and len(batch) < self._batch_size():
                for trial in self._ask(study, distributions, space):
                    batch.append((trial.number, trial.params, trial.user_attrs.get(SEED), False))
                    started += 1
            jobs = [self._job(number, params, seed, resume, space) for number, params, seed, resume in batch]
            returns += self.launcher.launch(jobs, initial_job_idx=batch[0][0])
            for number, *_ in batch:
                self._tell(study, number)
        print(summarize(self.dir))
        return returns

    def _ask(self, study: optuna.Study, distributions: dict[str, Any], space: SearchSpace) -> list[Any]:
        """The next trials: one, or for a sampled study with seeds, one per seed of a new setting."""
        trial = study.ask(distributions)
        if self.options.sampler == "grid" or not space.seeds:
            return [trial]
        trial.set_user_attr(SEED, space.seeds[0])
        for seed in space.seeds[1:]:
            study.enqueue_trial(trial.params, user_attrs={SEED: seed})
        return [trial, *(study.ask(distributions) for _ in space.seeds[1:])]

    def _job(self, number: int, params: dict[str, Any], seed: Any, resume: bool, space: SearchSpace) -> list[str]:
        run_dir = self.dir / str(number)
        overrides = [*space.fixed, *(f"{key}={value}" for key, value in params.items() if key != SEED)]
        seed = params.get(SEED, seed)
        if seed is not None:
            overrides.append(f"{SEED}={seed}")
        if resume and (run_dir / "checkpoints" / LAST).is_file():
            overrides.append(f"ckpt_path={run_dir}")  # the same run: its steps and events go on
        return [*overrides, f"hydra.sweep.subdir={number}"]

    def _tell(self, study: optuna.Study, number: int) -> None:
        path = self.dir / str(number) / RESULT
        result = json.loads(path.read_text()) if path.is_file() else {"status": "failed"}
        if result["status"] == "pruned":
            study.tell(number, state=TrialState.PRUNED)
        elif result["status"] == "ok":
            study.tell(number, result["objective"])
        else:
            study.tell(number, state=TrialState.FAIL)
