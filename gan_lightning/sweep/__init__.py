"""Sweeps: Hydra's multirun on an Optuna study that lives in the sweep directory.

- ``results``: each run's ``result.json``, and the tables of a sweep's summary (by run, and by
  setting over seeds);
- ``space``: the search space, from Hydra's sweep syntax;
- ``storage``: how a sweep, a run and a summary reach the study (its storage, pruner, a trial);
- ``study``: the study and the loop the project's Hydra sweeper runs: resumed where it stopped;
- ``trial``: a run's side of a trial: its objective reported at each scoring, a clean stop when
  pruned, its torch threads when runs share the machine;
- ``plots``: ``summary.png``, and Optuna's plots of a TPE study;
- ``summary``: the tables and the picture together, and ``gan-sweep-summary``.
"""
