"""The notebook runs top to bottom on a tiny checkpoint and shows what it promises."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from gan_lightning.train import train
from tests.conftest import REPO, compose_train

NOTEBOOK = REPO / "notebooks" / "explore_run.ipynb"


@pytest.mark.slow
def test_explore_run_notebook_executes(tmp_path, monkeypatch):
    """On the default recipe's run. A conditional run takes the notebook's class rows through
    the functions gan-sample uses (test_conditional.py)."""
    run = tmp_path / "run"
    overrides = ["trainer.max_steps=20", "trainer.log_every_n_steps=5", "model.ema_decay=0.9"]
    train(compose_train(run, *overrides))
    monkeypatch.setenv("GAN_LIGHTNING_RUN", str(run))
    monkeypatch.setenv("GAN_LIGHTNING_EVAL_SAMPLES", "200")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) == 4  # samples, EMA samples, loss curves, interpolation
    text = "".join(output.get("text", "") for output in outputs)
    assert "FID" in text and "real (floor)" in text and "EMA generator" in text and "MODES" in text
    assert "CLASS_ACC" not in text  # an unconditional run has no classes to be asked for
