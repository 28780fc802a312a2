"""A command's start-up: loading Lightning, which is most of it."""

from __future__ import annotations

import gc
import importlib
import sys
from types import ModuleType

_in_a_command = False


def mark_command() -> None:
    """Called as a console command starts (``errors.command``): the process is the command's
    own, so what ``load_heavy`` loads may be frozen. Python that calls ``train()`` itself (a
    notebook) keeps its collector as it was: a freeze there would also keep the caller's own
    cyclic garbage for good."""
    global _in_a_command
    _in_a_command = True


def load_heavy(name: str = "lightning.pytorch") -> ModuleType:
    """``import name``; in a command (``mark_command``), with Python's cyclic garbage collector
    paused, and every object alive after it frozen (``gc.freeze``): out of every later
    collection.

    Lightning brings torch, torchvision, torchmetrics and SciPy: 447,000 tracked objects that
    live as long as the process. Left to it, the collector walks them again and again, during
    the import and in each full collection after it; a 10-iteration ``gan-train`` took 6.8 to
    7.1 s here with it, 5.2 to 5.3 s with this (docs/performance.md, Start-up). What is frozen
    is never freed by the collector, only by reference counts: the imported modules, and
    whatever cyclic garbage their import left, which changed the run's peak memory by less than
    its run-to-run spread. Once per process: a sweep's later runs, and a caller that already
    imported it, are left as they are."""
    if name in sys.modules:
        return sys.modules[name]
    if not _in_a_command:
        return importlib.import_module(name)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
