"""The console commands. Each imports its module inside ``command``, so that a Ctrl-C while
Python is still loading torch or Lightning ends in one line (``Interrupted``, exit status 130),
as at any other moment, instead of a traceback through the import machinery."""

from __future__ import annotations

from gan_lightning.plumbing.errors import command


@command
def train() -> None:
    from gan_lightning.train import main

    main()


@command
def sample() -> None:
    from gan_lightning.sample import main

    main()


@command
def evaluate() -> None:
    from gan_lightning.evaluate import main

    main()


@command
def sweep_summary() -> None:
    from gan_lightning.sweep.summary import main

    main()
