"""A run's life, in one place: its directory and lock, the config it restores on resume,
the signals that stop it, and the checkpoint it resumes from.

- ``paths``: where a run lives, and which checkpoint a ``ckpt_path`` means;
- ``lock``: one process trains a run at a time;
- ``overrides``: ``gan-train ckpt_path=<run>`` composes the run's own overrides, then yours;
- ``life``: ``Run``, the context ``train()`` trains in: lock, signals, resume checks, clean-up.

The first three import no torch or Lightning, so the command line can use them before
anything heavy is loaded.
"""
