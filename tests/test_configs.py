"""Every config in conf/ composes, and every experiment runs one batch end to end."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_lightning.data.mnist import EMBEDDED
from gan_lightning.train import CONF_DIR, train
from tests.conftest import compose_train
from tests.test_image_folder import make_folder

BASES = {"model_shared", "data_shared"}  # what model/ and data/ configs extend, not groups to choose from
GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONF_DIR.iterdir()
    if group.is_dir() and group.name not in BASES
    for option in group.glob("*.yaml")
)
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_there_is_something_to_test():
    assert ("experiment", "mnist_gan") in GROUP_OPTIONS and len(GROUP_OPTIONS) > 10
    assert {"mnist_gan", "mnist_dcgan", "mnist_dcgan32", "fashion_dcgan", "celeba_dcgan"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("group,option", GROUP_OPTIONS)
def test_config_composes_and_resolves(tmp_path, group, option):
    cfg = compose_train(tmp_path, f"{group}={option}")
    if group != "hydra":  # the hydra group resolves only inside a Hydra run
        OmegaConf.resolve(cfg)
    assert cfg.model._target_ and cfg.data._target_


def test_default_is_the_mnist_gan_experiment(tmp_path):
    cfg = compose_train(tmp_path)
    assert cfg.data.batch_size == 64 and cfg.model.latent_dim == 100
    assert cfg.model.g_optimizer.lr == cfg.model.d_optimizer.lr == 2e-4
    assert list(cfg.model.g_optimizer.betas) == [0.5, 0.999]
    assert cfg.model.ema_decay == 0.999  # an EMA generator beside the recipe (README: which generator)
    model = instantiate(cfg.model, _recursive_=False)
    assert type(model.generator).__name__ == "MLPGenerator"
    assert model.generator.image_shape == (1, 28, 28)


def experiment_data(tmp_path: Path, experiment: str) -> list[str]:
    """Tiny stand-ins for the data sets that are not in the package."""
    if experiment.startswith("celeba"):
        make_folder(tmp_path / "faces")
        return [f"data.root={tmp_path / 'faces'}", "data.batch_size=4", "data.num_workers=0"]
    if experiment.startswith("fashion"):
        raw = tmp_path / "data" / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes((EMBEDDED / "t10k-images-idx3-ubyte.gz").read_bytes())
    return ["data.batch_size=8"]  # one small batch through everything is the check


# Every experiment trains a few steps as a gan-train process in tests/test_options.py; here
# debug=fdr, one batch through everything, on the default and on a conditional one.
@pytest.mark.parametrize("experiment", ["mnist_gan", "mnist_cdcgan32"])
def test_experiment_runs_with_fast_dev_run(tmp_path, experiment):
    overrides = experiment_data(tmp_path, experiment)
    metrics = train(compose_train(tmp_path, f"experiment={experiment}", "debug=fdr", *overrides))
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"} <= metrics.keys()
    assert not Path(tmp_path, "checkpoints").exists()  # fast_dev_run writes no checkpoint


@pytest.mark.parametrize(
    "experiment, size, channels, batch, epochs",
    [("mnist_dcgan", 64, 1, 128, 10), ("fashion_dcgan", 64, 1, 128, 10), ("celeba_dcgan", 64, 3, 128, 50)],
)
def test_dcgan_experiments_hold_their_sources_values(tmp_path, experiment, size, channels, batch, epochs):
    cfg = compose_train(tmp_path, f"experiment={experiment}")
    assert (cfg.data.image_size, cfg.data.channels, cfg.data.batch_size) == (size, channels, batch)
    assert cfg.trainer.max_epochs == epochs and cfg.model.latent_dim == 100
    assert cfg.model.generator.base_width == cfg.model.discriminator.base_width == 64
    assert cfg.model.g_optimizer.lr == 2e-4 and list(cfg.model.d_optimizer.betas) == [0.5, 0.999]
    if experiment == "celeba_dcgan":
        assert cfg.seed == 999 and cfg.trainer.deterministic


def test_the_stacked_mnist_recipe_packs_d_and_trains_for_30_minutes(tmp_path):
    """The recipe's knobs as docs/sample_quality.md gives them; a few steps of it train in a
    gan-train process in test_options.py."""
    cfg = compose_train(tmp_path, "experiment=stacked_mnist_pacgan32")
    assert cfg.data.channels == 3 and cfg.model.generator._target_.endswith("DCGANGenerator")
    assert cfg.model.pack == 2 and cfg.model.discriminator.minibatch_std == 4 and cfg.model.ema_decay == 0.999
    assert cfg.trainer.max_time == "00:00:30:00" and cfg.callbacks.sample_quality.every_n_epochs == 5
    assert (
        cfg.callbacks.best_checkpoint.monitor == "val/modes_confident" and cfg.callbacks.best_checkpoint.mode == "max"
    )
