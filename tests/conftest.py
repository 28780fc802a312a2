"""Shared helpers: compose configs the way a user types overrides, on tiny budgets."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from gan_lightning.train import CONF_DIR

REPO = Path(__file__).resolve().parents[1]


# The suite runs in two processes at once (pytest-xdist, pyproject's addopts): each, and each
# process it starts (gan-train, gan-eval, the notebook's kernel), gets one torch thread, so that
# they share the cores instead of spinning.
THREADS = "1" if os.environ.get("PYTEST_XDIST_WORKER") else os.environ.get("OMP_NUM_THREADS", "")
if THREADS:
    torch.set_num_threads(int(THREADS))
    os.environ["OMP_NUM_THREADS"] = THREADS


# The tests train on a fixed 10,000-image subset of the MNIST the package ships (60,000): the
# size their step and epoch counts were written for. Tests of the whole split say data.limit=null.
SUBSET = "data.limit=10000"


def _gan_train(overrides: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The user's command, ``gan-train ...`` as ``python -m``, with the tests importable so
    that test callbacks can be given as overrides."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    args = list(overrides)
    # Not for a resume: the run's own overrides hold its data.limit, and a user types none.
    if not any(o.lstrip("+").startswith(("data.limit=", "ckpt_path=")) for o in args):
        # beside the other overrides, for argparse
        first = next((i for i, a in enumerate(args) if "=" in a and not a.startswith("-")), len(args))
        args.insert(first, SUBSET)
    return [sys.executable, "-m", "gan_lightning.train", *args], env


def start_gan_train(
    cwd: Path, *overrides: str, env_extra: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen:
    args, env = _gan_train(overrides)
    return subprocess.Popen(args, cwd=cwd, env={**env, **(env_extra or {})}, text=True, **popen)


def run_files(run_dir: Path) -> dict[str, bytes]:
    """Every file under ``run_dir``, by its relative path, with its bytes."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def assert_as_it_was(before: dict[str, bytes], after: dict[str, bytes], *rewritten: str) -> None:
    """``after`` holds ``before``'s files (both from ``run_files``) as they were, but for
    ``train.log``, to which each command appends its lines, the lock file, which names its last
    holder, and the files ``rewritten`` on purpose."""
    before, after = dict(before), dict(after)
    assert after.pop("train.log", b"").startswith(before.pop("train.log", b""))
    for name in (".lock", *rewritten):
        after.pop(name, None), before.pop(name, None)
    assert after == before


class Console:
    """A ``gan-train`` process whose console (stdout and stderr, as one stream) is read as it
    prints, so that a test can act at a moment the run announces, as a user at a terminal would."""

    def __init__(self, cwd: Path, *overrides: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.proc = start_gan_train(cwd, *overrides, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, words: str, timeout: float = 120) -> str:
        """The first line printed from now on that holds ``words``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            self.seen.append(line)
            if words in line:
                return line
        raise AssertionError(f"never printed {words!r}; the last lines: {self.seen[-5:]}")

    def finish(self, timeout: float = 120) -> tuple[int, list[str]]:
        """The exit status, and every line printed."""
        status = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return status, self.seen


def run_gan_train(cwd: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    args, env = _gan_train(overrides)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# The full MNIST in torchvision's layout (<root>/MNIST/raw); tests that need it skip without it.
MNIST_ROOT_ENV = "GAN_LIGHTNING_MNIST_ROOT"


def compose_train(output_dir: Path, *overrides: str) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``, writing to ``output_dir``, offline and quiet."""
    base = [
        f"paths.output_dir={output_dir}",
        f"paths.data_dir={output_dir}/data",  # empty: the embedded MNIST
        SUBSET,
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*base, *overrides])
    if "download" in cfg.data:
        cfg.data.download = False  # tests never wait for a network
    if "sample_quality" in (cfg.get("callbacks") or {}) and not any("sample_quality" in o for o in overrides):
        # Scored in a fraction of a second; Inception (image folders, with the [fid] extra) costs
        # a second per dozen images here, and has tests of its own (test_inception.py).
        rgb = str(cfg.data.get("_target_", "")).endswith("ImageFolderDataModule")
        cfg.callbacks.sample_quality.num_samples = 8 if rgb else 500
    return cfg


@pytest.fixture
def mnist_root() -> Path:
    root = os.environ.get(MNIST_ROOT_ENV)
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip(f"set {MNIST_ROOT_ENV} to a folder holding MNIST/raw to run this test")
    return Path(root)


# The slow tests first, those of the files that take longest first, then the quick ones:
# pytest-xdist hands out tests in collection order, so the many quick tests at the end keep one
# process from finishing long after the other.
SLOWEST_FILES = (
    "test_cli.py",  # the 2-process DDP run, the longest test
    "test_options.py",  # a sweep of a run per row of options
    "test_resume.py",
    "test_hardening.py",
    "test_conditional.py",
    "test_sweep.py",
    "test_records.py",
    "test_inception.py",
    "test_reproducibility.py",
    "test_notebook.py",
    "test_stacked_mnist.py",
    "test_ada.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, rank.get(item.path.name, len(rank))))
