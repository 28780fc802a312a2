"""Your own code, without editing this package: the modules a config names in ``imports`` are
imported before anything else, so that the losses, augmentations and metrics they register are
known to the up-front checks, the training step and ``gan-eval`` alike. Networks, data modules
and callbacks need no import: their ``_target_`` names them. Recipes: docs/extending.md.

    PYTHONPATH=. gan-train imports=[my_loss] model.loss=squared_hinge
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from gan_lightning.plumbing.errors import UserError


def import_extensions(modules: Iterable[str] | None) -> None:
    """Import each of ``modules`` (``imports`` of a run's config); one line if one is missing."""
    for name in modules or ():
        try:
            importlib.import_module(str(name))
        except ModuleNotFoundError as err:
            if err.name is None or not str(name).startswith(err.name):
                raise  # the module is there, and something it imports is not: its own error
            raise UserError(f"imports: no module {name} (its folder on PYTHONPATH, or its package installed?)") from err
