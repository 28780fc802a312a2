"""A short real run writes what a user looks at: checkpoints, grids, TensorBoard events."""

import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import seed_everything
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from gan_lightning.callbacks.image_grid import TAG
from gan_lightning.callbacks.sample_quality import SampleQuality
from gan_lightning.gan_module import GANModule
from gan_lightning.train import train
from tests.conftest import compose_train

SCALARS = {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"}


def read_events(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_short_run_trains_and_writes_outputs(tmp_path):
    overrides = [
        "trainer.max_steps=40",
        "trainer.log_every_n_steps=5",
        "callbacks.fixed_noise_grid.every_n_steps=20",
    ]
    cfg = compose_train(tmp_path, *overrides)
    metrics = train(cfg)

    assert all(math.isfinite(metrics[name]) for name in SCALARS)
    assert 0 < metrics["train/d_real"] < 1 and 0 < metrics["train/d_fake"] < 1

    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 40  # (D, G) iterations, not optimizer steps

    trained = GANModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt").eval()
    seed_everything(cfg.seed)
    initial = instantiate(cfg.model, _recursive_=False).eval()
    torch.testing.assert_close(trained.fixed_noise, initial.fixed_noise)
    with torch.no_grad():
        change = (trained(trained.fixed_noise) - initial(initial.fixed_noise)).abs().mean()
    assert change > 0.01

    pngs = sorted(p.name for p in (tmp_path / "samples").glob("*.png"))  # the default keeps an EMA generator
    assert pngs == [f"step{step:07d}{kind}.png" for step in (0, 20, 40) for kind in ("", "_ema")]

    events = read_events(tmp_path)
    assert SCALARS <= set(events.Tags()["scalars"])
    assert TAG in events.Tags()["images"]
    image = events.Images(TAG)[-1]
    assert image.step == 40 and image.width == image.height == 8 * 28 + 9 * 2  # 8x8 grid, 2px padding
    steps = [s.step for s in events.Scalars("train/d_loss")]
    assert steps == sorted(steps) and max(steps) >= 35  # the x-axis counts iterations

    hparams = (tmp_path / "tensorboard" / "hparams.yaml").read_text()
    assert (
        "embedded MNIST training split (60000 images), a subset of 10000" in hparams
        and "model.g_optimizer.lr: 0.0002" in hparams
    )
    plugin = events.PluginTagToContent("hparams")
    logged = HParamsPluginData.FromString(plugin["_hparams_/session_start_info"]).session_start_info.hparams
    assert logged["model.g_optimizer.lr"].number_value == 2e-4 and logged["model.latent_dim"].number_value == 100
    assert "embedded" in logged["data/source"].string_value
    assert len(logged) < 30  # a readable set, not every path of the config
    experiment = HParamsPluginData.FromString(plugin["_hparams_/experiment"]).experiment
    assert {"val/fid", "train/d_loss"} <= {info.name.tag for info in experiment.metric_infos}
    assert [p.step for p in events.Scalars("val/fid")] == [40]  # no fake point at step 0


def test_a_run_shorter_than_the_logging_interval_still_logs_its_last_scalars(tmp_path):
    train(compose_train(tmp_path, "trainer.max_steps=7", "callbacks=none"))  # log_every_n_steps is 50
    events = read_events(tmp_path)
    assert SCALARS <= set(events.Tags()["scalars"])
    assert [point.step for point in events.Scalars("train/g_loss")] == [7]  # the 7th iteration


@pytest.mark.slow
def test_seed_zero_is_a_real_seed(tmp_path):
    def run(name: str, seed: int) -> dict[str, float]:
        overrides = [f"seed={seed}", "trainer.max_steps=3", "trainer.log_every_n_steps=1"]
        return train(compose_train(tmp_path / name, *overrides))

    first, second, other = (run(name, seed) for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    for metrics in (first, second):
        assert metrics.pop("val/eval_seconds") > 0  # a timing: the one number allowed to differ
    assert first == second  # seed 0 fixes the run, val/fid included...
    assert first["train/g_loss"] != other["train/g_loss"]  # ...and is not "no seed"


def test_each_rank_and_step_draws_its_own_noise():
    model = GANModule(
        {"_target_": "gan_lightning.models.MLPGenerator"},
        {"_target_": "gan_lightning.models.MLPDiscriminator"},
        {"_target_": "torch.optim.Adam", "_partial_": True},
        {"_target_": "torch.optim.Adam", "_partial_": True},
        seed=3,
    )

    def noise(rank: int, step: int) -> torch.Tensor:
        model._trainer = SimpleNamespace(global_rank=rank, global_step=step)
        return model.noise(4)

    assert torch.equal(noise(0, 7), noise(0, 7))  # a resumed step draws the same z
    assert not torch.equal(noise(0, 7), noise(1, 7))  # DDP ranks differ
    assert not torch.equal(noise(0, 7), noise(0, 8))  # steps differ


def test_gpu_options_run_on_the_cpu(tmp_path):
    """bf16 autocast, NHWC convolutions, fused Adam and device-resident data: each path trains."""
    options = [
        "experiment=mnist_dcgan32",
        "data.batch_size=16",
        "trainer.max_steps=4",
        "trainer.log_every_n_steps=2",
        "trainer.precision=bf16-mixed",
        "model.channels_last=true",
        "model.g_optimizer.fused=true",
        "model.d_optimizer.fused=true",
        "data.on_device=true",
        "logger=none",
    ]
    metrics = train(compose_train(tmp_path, *options))
    assert all(math.isfinite(metrics[name]) for name in SCALARS)
    trained = GANModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    conv = trained.discriminator.net[2].weight  # 64 -> 128 channels: the two layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


@pytest.mark.slow
def test_compiled_networks_train_with_toggled_optimizers(tmp_path):
    # aot_eager runs Dynamo and AOTAutograd (where requires_grad flips matter) without the
    # minute of C++ code generation inductor needs on a CPU.
    from torch._dynamo.utils import counters

    counters.clear()
    common = ["trainer.max_steps=6", "trainer.log_every_n_steps=3", "logger=none"]
    compiled = ["model.compile=true", "model.compile_backend=aot_eager"]
    metrics = train(compose_train(tmp_path / "compiled", *common, *compiled))
    assert all(math.isfinite(metrics[name]) for name in SCALARS)
    assert counters["stats"]["unique_graphs"] >= 2  # G and D really went through Dynamo
    train(compose_train(tmp_path / "eager", *common))
    state, eager = (
        torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for run in ("compiled", "eager")
    )
    assert "generator.net.0.weight" in state  # compiled in place: the checkpoint keys are unchanged
    # The same steps on the same batches: the compiled networks' weights are the eager ones'.
    for name, value in eager.items():
        torch.testing.assert_close(state[name], value, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.slow
def test_ema_leaves_training_alone(tmp_path):
    """One run gives both the raw and the EMA generator's scores: the raw one is the same as
    in a run without EMA."""
    common = ["trainer.max_steps=10", "logger=none"]
    train(compose_train(tmp_path / "plain", *common))
    train(compose_train(tmp_path / "ema", *common, "model.ema_decay=0.9"))
    plain, ema = (torch.load(tmp_path / r / "checkpoints" / "last.ckpt", weights_only=True) for r in ("plain", "ema"))
    for name, value in plain["state_dict"].items():
        assert torch.equal(value, ema["state_dict"][name]), name


def test_ema_generator_trails_the_generator_and_is_rendered(tmp_path):
    overrides = ["model.ema_decay=0.9", "trainer.max_steps=20", "callbacks.fixed_noise_grid.every_n_steps=10"]
    train(compose_train(tmp_path, *overrides))
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    raw, ema = state["generator.net.0.weight"], state["generator_ema.net.0.weight"]
    assert not torch.equal(raw, ema)
    # Closer to the live weights than to where both started: it follows, with a lag.
    seed_everything(0)
    start = instantiate(compose_train(tmp_path, "model.ema_decay=0.9").model, _recursive_=False)
    initial = start.generator.state_dict()["net.0.weight"]
    assert (ema - raw).abs().mean() < (initial - raw).abs().mean()
    assert (ema - initial).abs().mean() > 0
    assert (tmp_path / "samples" / "step0000020_ema.png").is_file()
    assert f"{TAG}_ema" in read_events(tmp_path).Tags()["images"]


def test_a_run_that_reaches_max_time_is_scored_at_its_end(tmp_path):
    """trainer.max_time ends a run as its budget: the scores of its end are logged, as at
    max_epochs (a signal's stop is not scored: test_hardening.py)."""
    options = ["trainer.max_epochs=1000", "trainer.max_time=00:00:00:02", "logger=none"]
    options += ["callbacks.sample_quality.every_n_epochs=1000", "callbacks.sample_quality.metrics=[fid]"]
    metrics = train(compose_train(tmp_path, *options))
    assert metrics["iterations"] > 0 and metrics["epochs"] < 1000
    assert math.isfinite(metrics["val/fid"])


@pytest.mark.slow
def test_max_time_budgets_training_not_scoring(tmp_path, monkeypatch):
    """trainer.max_time counts training alone: a run scored every epoch trains its whole budget
    between scorings (each made 0.6 s longer here, longer than an epoch: one of them crosses the
    budget and is given back too), as one scored once would."""
    stamps, pause, budget = {"scorings": []}, 0.6, 2.0
    start, score = SampleQuality.on_train_start, SampleQuality.score

    def on_train_start(self, trainer, pl_module):
        stamps["start"] = time.monotonic()
        start(self, trainer, pl_module)

    def slow_score(self, trainer, pl_module):
        began = time.monotonic()
        time.sleep(pause)
        metrics = score(self, trainer, pl_module)
        stamps["scorings"].append((began, time.monotonic()))
        return metrics

    monkeypatch.setattr(SampleQuality, "on_train_start", on_train_start)
    monkeypatch.setattr(SampleQuality, "score", slow_score)
    options = ["trainer.max_epochs=1000", "trainer.max_time=00:00:00:02", "+trainer.limit_train_batches=10"]
    options += ["logger=none", "callbacks.sample_quality.every_n_epochs=1", "callbacks.sample_quality.metrics=[fid]"]
    options += ["callbacks.sample_quality.num_samples=200"]
    metrics = train(compose_train(tmp_path, *options))
    *during, last = stamps["scorings"]
    assert during and math.ceil(metrics["epochs"]) == len(during) + 1  # scored every epoch, the last at the end
    scoring = sum(end - began for began, end in during)
    trained = last[0] - stamps["start"] - scoring
    # Had the scorings counted, training would have stopped after about budget - scoring seconds.
    assert budget - 0.05 <= trained < budget + 1.0, (trained, scoring)
