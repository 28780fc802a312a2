"""The signals that stop a run: Ctrl-C, SIGTERM and SLURM's requeue signal. ``Signals`` records
them; the ``StopOnSignal`` callback (``run/callbacks.py``) stops training on them."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from gan_lightning.plumbing.errors import Aborted

log = logging.getLogger(__name__)


class Signals:
    """Ctrl-C (SIGINT), SIGTERM (what schedulers send on preemption) and, under SLURM with
    auto-requeue, its requeue signal: the first asks training to stop after the iteration under
    way, or, during set-up, before the first one (``signum`` records it; the ``StopOnSignal``
    callback acts on it); a second one aborts at once, without saving."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.cut_short = False  # training stopped at an iteration for it (else it came after the last)
        self.requeue_signal: int | None = None
        self.training_started = False  # from then on the run directory is kept, whatever happens
        self._previous: dict[int, Any] = {}

    def install(self, signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in signums:
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            raise Aborted(signum, f"{name} again: stopped at once, nothing saved")
        self.signum = signum
        again = "Ctrl-C" if signum == signal.SIGINT else name
        if self.training_started:
            log.warning("%s: stopping after this iteration and saving last.ckpt (%s again stops at once)", name, again)
        else:
            log.warning("%s: stopping once set-up ends, before training (%s again stops at once)", name, again)
