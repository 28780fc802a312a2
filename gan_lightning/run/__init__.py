"""A run's life, each part a module with one job, composed by ``Run`` (``life``) for ``train()``:

- ``extensions``: the project's own modules a config names in ``imports``, imported first;
- ``checks``: the config's values and names, checked before torch is imported (``names``: the
  names the registries hold, read from their source);
- ``lock``: one process trains a run at a time;
- ``devices``: how many processes a trainer starts, and the DDP settings several need;
- ``overrides``: ``gan-train ckpt_path=<run>`` composes the run's own overrides, then yours;
- ``signals``: Ctrl-C, SIGTERM and SLURM's requeue signal, recorded for the run to stop on;
- ``resume``: the checkpoint a resume starts from, checked (it loads, its networks, what changed);
- ``records``: what a run keeps beside its weights (config, overrides, metrics) and reads back;
- ``callbacks``: the run's own callbacks: its record in each checkpoint, the stop on a signal;
- ``life``: ``Run``, the context ``train()`` trains in.

All but ``callbacks`` import no torch or Lightning, so the command line can use them before
anything heavy is loaded. Where a run lives (its directory, which checkpoint a ``ckpt_path``
means) is ``gan_lightning/plumbing/paths.py``, shared with the sweeps, gan-sample and gan-eval.
"""
