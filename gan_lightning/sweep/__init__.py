"""Sweeps: Hydra's multirun on an Optuna study that lives in the sweep directory.

- ``results``: each run's ``result.json``, and the tables of a sweep's summary (by run, and by
  setting over seeds);
- ``space``: the search space, from Hydra's sweep syntax;
- ``storage``: how a sweep, a run and a summary reach the study (its storage, pruner, a trial);
- ``study``: the study and the loop the project's Hydra sweeper runs: resumed where it stopped;
- ``trial``: a run's side of its trial, one object ``train.py`` starts and finishes: its checks
  and threads (``launch``), its reports to the study (``report``), its ``result.json``;
- ``launch``: the one check of multi-process trainers, and the threads of parallel runs;
- ``report``: the Lightning callback that reports each scoring and stops a pruned run;
- ``plots``: ``summary.png``, and Optuna's plots of a TPE study;
- ``summary``: the tables and the picture together, and ``gan-sweep-summary``.
"""
