"""Scoring during training (val/*, best.ckpt) and gan-eval on a tiny run."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from gan_lightning.evaluate import main as gan_eval
from gan_lightning.train import train
from tests.conftest import compose_train
from tests.test_image_folder import make_folder
from tests.test_train import read_events

SCORES = ["val/fid", "val/kid", "val/is", "val/eval_seconds", "val/precision", "val/recall", "val/coverage"]

# Its module-scoped fixtures are built once: its tests share one worker.
pytestmark = pytest.mark.xdist_group("test_evaluation")


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    """Three short epochs of 15 iterations, scored after the 2nd and the last, with an EMA."""
    run = tmp_path_factory.mktemp("run")
    overrides = [
        "trainer.max_epochs=3",
        "+trainer.limit_train_batches=15",
        "trainer.log_every_n_steps=5",
        "model.ema_decay=0.9",
        "callbacks.sample_quality.every_n_epochs=2",
        "callbacks.sample_quality.num_samples=400",
    ]
    return run, train(compose_train(run, *overrides))


def test_scores_are_logged_for_both_generators(scored_run):
    run, metrics = scored_run
    tags = read_events(run).Tags()["scalars"]
    for name in SCORES + ["val/fid_ema", "val/kid_ema", "val/is_ema"]:
        assert name in tags and math.isfinite(metrics[name])
    fid = read_events(run).Scalars("val/fid")
    # After epoch 2 (every_n_epochs) and the last, at the step of the iteration they follow.
    assert [point.step for point in fid] == [30, 45]
    assert all(point.value > 0 for point in fid)


def test_best_checkpoint_holds_the_lowest_fid(scored_run):
    run, _ = scored_run
    fids = {point.step: point.value for point in read_events(run).Scalars("val/fid")}
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["global_step"] == min(fids, key=fids.get)
    (state,) = [v for k, v in best["callbacks"].items() if k.startswith("BestCheckpoint") and "val/fid" in k]
    assert state["best_model_score"].item() == pytest.approx(min(fids.values()), rel=1e-5)


def test_gan_eval_prints_scores_and_the_real_floor(scored_run, capsys, tmp_path):
    run, metrics = scored_run
    gan_eval([str(run), "--num-samples", "400", "--json", str(tmp_path / "scores.json")])
    out = capsys.readouterr().out
    assert "FID" in out and "EMA generator" in out and "real (floor)" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["about"]["num_samples"] == 400 and scores["about"]["features"] == "mnist"
    assert scores["real"]["fid"] < scores["generator"]["fid"] / 10  # the floor is far below a 45-step GAN
    for name in ("generator", "generator_ema", "real"):
        assert {"fid", "kid", "is", "precision", "recall", "density", "coverage"} <= scores[name].keys()
    # Real images against real ones cover each other; a 45-step GAN's samples do not look real yet.
    assert scores["real"]["precision"] > 0.6 and scores["real"]["recall"] > 0.6
    assert scores["generator"]["precision"] < scores["real"]["precision"]
    # Read from the run's own scoring seed: the same figures as its last val/*.
    assert scores["generator"]["fid"] == pytest.approx(metrics["val/fid"], rel=1e-4)
    assert scores["generator"]["precision"] == pytest.approx(metrics["val/precision"], abs=1e-6)


def test_a_run_scores_only_the_metrics_it_names(tmp_path):
    metrics = train(
        compose_train(tmp_path, "trainer.max_steps=3", "logger=none", "callbacks.sample_quality.metrics=[fid]")
    )
    # The default experiment's EMA generator is scored by the same list.
    assert {name for name in metrics if name.startswith("val/")} == {"val/fid", "val/fid_ema", "val/eval_seconds"}


def test_gan_eval_of_a_missing_run_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gan_eval([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_rgb_run_without_any_inception_weights_trains_unscored(tmp_path, monkeypatch, caplog, recwarn):
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    import gan_lightning.metrics.scores as scores

    monkeypatch.setattr(inception, "load_state_dict_from_url", offline)
    monkeypatch.setattr(scores, "installed_torchscript", lambda: None)  # without the [fid] extra
    monkeypatch.setattr(scores, "_hub_cached", lambda: False)
    make_folder(tmp_path / "faces")
    overrides = ["data=image_folder", f"data.root={tmp_path / 'faces'}", "data.image_size=16"]
    overrides += ["data.batch_size=4", "model=dcgan", "trainer.max_steps=3", "logger=none"]
    overrides += ["trainer.log_every_n_steps=1"]
    with caplog.at_level(logging.WARNING):
        metrics = train(compose_train(tmp_path, *overrides))
    assert "train/g_loss" in metrics and "val/fid" not in metrics
    assert any("No val/fid for this run: Inception-v3 weights" in r.getMessage() for r in caplog.records)
    assert not [w for w in recwarn if "could not find the monitored key" in str(w.message)]  # said once, above
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
