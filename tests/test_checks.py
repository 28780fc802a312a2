"""The checks made before torch is imported read the registries' names where they are defined,
and a failure of any shape ends a command with one line."""

import subprocess
import sys
import typing

import pytest
import torch
from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

from gan_lightning.augment import AUGMENTATIONS
from gan_lightning.losses import LOSSES
from gan_lightning.metrics.registry import METRICS
from gan_lightning.metrics.scores import SampleScores
from gan_lightning.models import dcgan
from gan_lightning.run import checks, names
from tests.conftest import REPO


def _literals(hint: object) -> set[object]:
    args = typing.get_args(hint)
    return {a for arg in args for a in _literals(arg)} if args else {hint}


def test_the_names_read_from_the_registries_source_are_the_registries_own():
    """Read without importing (a fresh process, as gan-train reads them), then imported."""
    code = (
        "import sys\nfrom gan_lightning.run import names\n"
        "print({n: sorted(r.names()) for n, r in (('loss', names.LOSSES), ('augment', names.AUGMENTATIONS),"
        " ('metric', names.METRICS))}, names.METRICS.names()['prdc'], 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    read = result.stdout.strip()
    expected = {"loss": sorted(LOSSES), "augment": sorted(AUGMENTATIONS), "metric": sorted(METRICS)}
    assert read == f"{expected} {{'keys': ('precision', 'recall', 'density', 'coverage')}} False", result.stderr
    assert names.literal("gan_lightning.models.dcgan", "SUPPORTED_SIZES") == dcgan.SUPPORTED_SIZES
    assert set(checks.PRECISIONS) == _literals(_PRECISION_INPUT) - {type(None)}


def test_the_early_checks_know_the_keys_each_metric_logs():
    images, labels = (
        torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1,
        torch.arange(64) % 10,
    )
    for name in METRICS:
        scores = SampleScores("mnist", metrics=[name])
        scores.add_real([images])
        logged = scores.score([(images, labels)])
        assert {f"val/{key}" for key in logged if not key.endswith("_std")} == checks.metric_keys([name]), name


@pytest.mark.parametrize("link", ["__context__", "__cause__"])
def test_an_exception_chain_that_loops_is_reported_in_one_line_and_the_command_ends(link):
    # Lightning has raised such chains: each exception the other's __context__.
    code = (
        "from gan_lightning.plumbing.errors import command\n"
        "@command\n"
        "def main():\n"
        "    first, second = RuntimeError('precision 7 is not supported'), ValueError('wrapped')\n"
        f"    first.{link}, second.{link} = second, first\n"
        "    raise first\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 1
    root = "RuntimeError: precision 7 is not supported" if link == "__context__" else "ValueError: wrapped"
    assert result.stderr.strip().splitlines() == [
        f"error: {root} (unexpected: GAN_LIGHTNING_DEBUG=1 shows the traceback)"
    ]


def test_gan_lightning_debug_brings_the_traceback_back():
    code = (
        "from gan_lightning.plumbing.errors import command\n@command\ndef main():\n    raise KeyError('boom')\nmain()\n"
    )
    for debug, traceback in (("", False), ("1", True)):
        env = {"PYTHONPATH": str(REPO), "GAN_LIGHTNING_DEBUG": debug}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=10)
        assert result.returncode == 1, result.stderr
        assert ("Traceback (most recent call last)" in result.stderr) == traceback, result.stderr
        assert "KeyError" in result.stderr.strip().splitlines()[-1]
