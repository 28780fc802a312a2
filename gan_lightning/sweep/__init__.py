"""Sweeps: Hydra's multirun on an Optuna study that lives in the sweep directory.

- ``results``: each run's ``result.json``, the summary of a sweep (by run, and by setting over
  seeds), and ``gan-sweep-summary``;
- ``space``: the search space, from Hydra's sweep syntax;
- ``study``: the study and its storage, and the loop the project's Hydra sweeper runs:
  resumed where it stopped;
- ``trial``: a run's side of a trial: its objective reported at each scoring, a clean stop when
  pruned, its torch threads when runs share the machine;
- ``plots``: ``summary.png``, and Optuna's plots of a TPE study.
"""
