"""A run's side of its sweep trial, in one object that ``train.py`` starts, trains with and
finishes: in a sweep, the run's processes checked, its torch threads set, its objective reported
to the study at every scoring (``report.py``) and a clean stop when pruned; in every run, its
``result.json`` (status, metrics, objective) at the end, which the sweeper and
``gan-sweep-summary`` read. A run outside a sweep is a trial of nothing: it writes its result.
"""

from __future__ import annotations

import logging
import math
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_lightning.plumbing.errors import Interrupted, debugging, describe, exit_with, find_reported_error
from gan_lightning.plumbing.startup import load_heavy
from gan_lightning.run.lock import is_rank_zero
from gan_lightning.sweep.launch import refuse_multi_process, set_threads_for_parallel_runs
from gan_lightning.sweep.results import STUDY_FILE, objective, write_result

log = logging.getLogger(__name__)


class Trial:
    """``Trial(cfg, run_dir, overrides, multirun)``, then ``train(cfg, extra_callbacks=trial.callbacks)``
    and ``trial.finish(metrics)``, or ``trial.fail(err)``; each returns the objective."""

    def __init__(self, cfg: DictConfig, run_dir: Path, overrides: list[str], multirun: bool) -> None:
        self.run_dir, self.overrides, self.multirun = run_dir, overrides, multirun
        self.metric = str(cfg.optimized_metric)
        self.callbacks: list[Any] = []
        self._reporter: Any = None
        if multirun:
            hydra = HydraConfig.get()
            refuse_multi_process(cfg.trainer, str(hydra.launcher.get("_target_", "")))
            if threads := set_threads_for_parallel_runs(hydra.launcher):
                log.info("Runs share this machine: %d torch threads for this one", threads)
            self._reporter = _reporter(hydra, self.metric)
            self.callbacks = [self._reporter] if self._reporter else []

    def finish(self, metrics: dict[str, float], dry: bool = False) -> float:
        """Write ``result.json`` (global rank 0) and return the objective. Empty metrics: a
        resumed run had nothing left to do and its result stands; ``dry`` (debug=fdr): nothing
        is written."""
        value = objective(metrics, self.metric)
        if dry:
            return value
        missing = ""
        if self.multirun and metrics and self.metric not in metrics:  # only a sweep needs it
            # Checked before training: only scoring that could not run (no Inception weights) gets here.
            missing = f"optimized_metric={self.metric} was not logged"
            log.warning(missing)
        if metrics and is_rank_zero():
            pruned = self._reporter.pruned_epoch if self._reporter else None
            write_result(self.run_dir, self.overrides, metrics, value, missing, self.metric, pruned, self.multirun)
        return value

    def fail(self, err: Exception) -> float:
        """A failed run: outside a sweep, or stopped by a signal, the command ends with its one
        line; in a sweep the failure is recorded and the sweep goes on (the objective: inf).
        With GAN_LIGHTNING_DEBUG=1 an unexpected error shows its traceback first."""
        status, line = describe(err)
        stopped = find_reported_error(err)
        if isinstance(stopped, Interrupted) and stopped.metrics:  # it had reached its limits
            self.finish(stopped.metrics)
        if debugging(err):
            traceback.print_exception(err)
        if not self.multirun or status > 128:  # a signal stops the whole sweep too
            exit_with(err)
        write_result(self.run_dir, self.overrides, {}, math.inf, line.removeprefix("error: "), self.metric)
        print(line, file=sys.stderr)
        return math.inf


def _reporter(hydra: DictConfig, metric: str) -> Any:
    """The reporter of this run, when it is a trial of a sweep with a study."""
    sweep_dir = Path(hydra.sweep.dir)
    if not (sweep_dir / STUDY_FILE).is_file() or not str(hydra.sweep.subdir).isdigit():
        return None
    load_heavy()  # the report is a Lightning callback: Lightning loads here in a sweep
    from gan_lightning.sweep.report import ReportToStudy

    return ReportToStudy(sweep_dir, int(hydra.sweep.subdir), metric)
