"""One writer per run: a run directory is locked while a process trains in it.

The lock is an ``flock`` on ``<run>/.lock`` (filelock's ``FileLock``), which the kernel drops
when its process dies, so a run killed with ``kill -9`` or by a crash never blocks its own
resume. The holder writes who it is into the file, so a second command can name it.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from gan_lightning.plumbing.errors import UserError

LOCK_FILE = ".lock"


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (or the only one), by the variables the
    launchers set: Lightning's subprocess launcher, torchrun and SLURM."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


class RunLock:
    """``acquire()`` takes the lock of ``run_dir`` or raises a UserError naming its holder."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._lock = FileLock(self.path)

    def acquire(self) -> None:
        self._take()
        # Contenders open the file without truncating it, so this stays readable to them.
        command = " ".join(["gan-train", *sys.argv[1:]])[:200]
        self.path.write_text(
            f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now():%Y-%m-%d %H:%M:%S} ({command})"
        )

    def _take(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            holder = self.holder() or "another process"
            raise UserError(
                f"{self.run_dir} is in use by {holder}: one process trains a run at a time "
                "(stop that one first, or wait for it to finish)"
            ) from None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def check_free(self) -> None:
        """Raise as ``acquire`` would, without keeping the lock: a quick check before a
        command writes anything into the run."""
        if self.path.is_file():
            self._take()
            self.release()
