"""The project's Hydra sweeper (``hydra/sweeper=gan_lightning``), found by Hydra's plugin scan
of the ``hydra_plugins`` namespace. The work is in ``gan_lightning.sweep.study``."""
