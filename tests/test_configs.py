"""Every config in conf/ composes, and every experiment runs one batch end to end."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gan_lightning.train import CONF_DIR, train
from tests.conftest import compose_train

GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONF_DIR.iterdir()
    if group.is_dir()
    for option in group.glob("*.yaml")
)
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_there_is_something_to_test():
    assert ("experiment", "mnist_gan") in GROUP_OPTIONS and len(GROUP_OPTIONS) > 10


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
    model = instantiate(cfg.model, _recursive_=False)
    assert type(model.generator).__name__ == "MLPGenerator"
    assert model.generator.image_shape == (1, 28, 28)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_with_fast_dev_run(tmp_path, experiment):
    metrics = train(compose_train(tmp_path, f"experiment={experiment}", "debug=fdr"))
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"} <= metrics.keys()
    assert not Path(tmp_path, "checkpoints").exists()  # fast_dev_run writes no checkpoint
