"""Stacked MNIST: three digits an image whose labels name its triple, drawn afresh each epoch
and the same after a resume; the classifier read channel by channel counts the triples."""

import json
import math

import numpy as np
import pytest
import torch

from gan_lightning.data.mnist import EMBEDDED, labels_of
from gan_lightning.data.stacked_mnist import StackedBatches, StackedMNISTDataModule
from gan_lightning.metrics.classifier import StackedDigitFeatures, load_classifier
from gan_lightning.metrics.registry import ClassCoverage, Outputs
from gan_lightning.metrics.scores import as_float_batches
from gan_lightning.plumbing.errors import UserError


def stacked(tmp_path, **kwargs) -> StackedMNISTDataModule:
    """The embedded MNIST's digits (data.root unset, nothing under the default root)."""
    args = {"default_root": str(tmp_path), "download": False, "image_size": 28, "channels": 3, "batch_size": 100}
    datamodule = StackedMNISTDataModule(**{**args, **kwargs})
    datamodule.setup("fit")
    return datamodule


@pytest.fixture(scope="module")
def features() -> StackedDigitFeatures:
    return StackedDigitFeatures(load_classifier("mnist32"))


def test_each_channel_is_a_training_digit_whose_labels_give_the_triple(tmp_path):
    datamodule = stacked(tmp_path, conditional=True)
    digits = datamodule.train_batches.images[:, 0].numpy()
    label_of = dict(zip(map(bytes, digits), labels_of(EMBEDDED / "train-images-idx3-ubyte.gz").tolist(), strict=True))
    images, triples = next(iter(datamodule.train_dataloader()))
    assert images.shape == (100, 3, 28, 28) and images.dtype == torch.uint8
    for image, triple in zip(images.numpy(), triples.tolist(), strict=True):
        a, b, c = (label_of[bytes(channel)] for channel in image)  # KeyError: not an MNIST digit
        assert triple == 100 * a + 10 * b + c


def test_an_epochs_triples_are_independent_uniform_draws_of_digits(tmp_path):
    datamodule = stacked(tmp_path, conditional=True)
    batches = datamodule.train_dataloader()
    triples = torch.cat([labels for _, labels in batches])
    assert len(triples) == 60000
    # Every triple appears, as often as three independent draws of MNIST's digits make it
    # (MNIST's classes are 9-11% each, so triples are not exactly equally likely).
    digit_share = np.bincount(labels_of(EMBEDDED / "train-images-idx3-ubyte.gz").numpy(), minlength=10) / 60000
    expected = 60000 * np.einsum("a,b,c->abc", digit_share, digit_share, digit_share).ravel()
    counts = np.bincount(triples.numpy(), minlength=1000)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert counts.min() > 0 and chi2 < 999 + 5 * math.sqrt(2 * 999), chi2  # 5 sd above its mean
    # The next epoch draws new triples.
    batches.load_state_dict({"epoch": 1, "consumed": 0})
    assert not torch.equal(next(iter(batches))[1], triples[:100])


def test_a_resume_draws_the_triples_an_unbroken_epoch_would(tmp_path):
    datamodule = stacked(tmp_path, seed=3)
    unbroken = datamodule.train_batches
    unbroken.load_state_dict({"epoch": 2, "consumed": 0})
    expected = list(unbroken)[5:8]
    resumed = StackedBatches(unbroken.images, unbroken.batch_size, 3, 0, 1, None)
    resumed.load_state_dict({"epoch": 2, "consumed": 5})  # as a checkpoint five batches in stores it
    assert all(torch.equal(a, b) for a, b in zip(list(resumed)[:3], expected, strict=True))


def test_ranks_take_disjoint_shares_of_the_triples(tmp_path):
    digits = stacked(tmp_path).train_batches.images
    shares = [StackedBatches(digits, 10, 0, rank, 2, None).triples(0) for rank in (0, 1)]
    assert torch.equal(torch.stack(shares, 1).reshape(-1, 3), StackedBatches(digits, 10, 0, 0, 1, None).triples(0))


@pytest.fixture(scope="module")
def real_triples(tmp_path_factory, features) -> tuple[torch.Tensor, torch.Tensor]:
    """10,000 real stacked test images (from gan-eval's second set): the triples the classifier
    reads in them, and their true triples."""
    datamodule = stacked(tmp_path_factory.mktemp("data"), image_size=32)
    images, triples = datamodule.reference_images()[26000:36000], datamodule.reference_labels()[26000:36000]
    assert images.shape == (10000, 3, 32, 32) and triples.max() < 1000
    read = [features(batch)[1].argmax(1) for batch in as_float_batches(images, 2000, torch.device("cpu"))]
    return torch.cat(read), triples


@pytest.mark.slow
def test_real_stacked_test_images_are_read_as_their_triples_and_cover_all_1000(real_triples):
    """The benchmark's floor (docs/sample_quality.md, Mode coverage; gan-eval reads 26,000): real images score
    what a perfect generator would. Each triple is read right (three digits, each read at about
    98.7%), and at 10,000 samples all 1,000 triples appear (each is missed with a chance of
    e^-10) and the KL divergence is near (1000 - 1) / (2 * 10000) = 0.05."""
    read, true = real_triples
    assert (read == true).float().mean() >= 0.9
    coverage = ClassCoverage(1000, min_count=1, uniform=True)
    coverage.update(Outputs(features=torch.empty(0), logits=torch.nn.functional.one_hot(read, 1000)))
    values = coverage.compute()
    assert values["modes"] == 1000 and values["class_kl"] < 0.1, values


def test_samples_of_one_triple_cover_one_mode_at_a_kl_of_log_1000(tmp_path, features):
    one = stacked(tmp_path, image_size=32).reference_images()[:1].expand(200, -1, -1, -1)
    coverage = ClassCoverage(1000, min_count=1, uniform=True)
    coverage.update(Outputs(*features(next(as_float_batches(one, 200, torch.device("cpu"))))))
    values = coverage.compute()
    assert values["modes"] == 1 and values["class_kl"] == pytest.approx(math.log(1000), rel=1e-5)


def test_stacked_mnist_has_three_channels(tmp_path):
    with pytest.raises(UserError, match="data.channels=1: Stacked MNIST has 3 channels"):
        StackedMNISTDataModule(default_root=str(tmp_path), channels=1)


@pytest.mark.slow
def test_a_stacked_run_logs_coverage_of_1000_triples_and_gan_eval_prints_it(tmp_path, capsys):
    """The experiment as a user runs it, on a tiny budget: 4 iterations, 300 samples scored."""
    from gan_lightning.evaluate import main as gan_eval
    from gan_lightning.train import train
    from tests.conftest import compose_train

    overrides = ["experiment=stacked_mnist_dcgan32", "trainer.max_steps=4", "data.batch_size=16"]
    metrics = train(compose_train(tmp_path, *overrides, "callbacks.sample_quality.num_samples=300"))
    assert 1 <= metrics["val/modes"] <= 300 and 0 < metrics["val/class_kl"] <= math.log(1000) + 1e-4
    assert {"val/fid", "val/precision", "val/recall", "val/density", "val/coverage"} <= metrics.keys()
    gan_eval([str(tmp_path), "--json", str(tmp_path / "scores.json")])  # the run's 300 samples, its seed
    assert "MODES" in capsys.readouterr().out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["about"]["features"] == "stacked_mnist" and scores["about"]["num_samples"] == 300
    assert scores["generator"]["modes"] == metrics["val/modes"]  # the same samples, the same count
    assert scores["real"]["modes"] > 230  # 300 real triples drawn from 1,000: about 260 distinct


@pytest.mark.slow
def test_coverage_counts_only_samples_read_as_digits_so_noise_covers_nothing(tmp_path):
    """val/confident and val/modes_confident (gan_lightning/metrics/confident.py): real stacked
    test digits are read (0.77 of 10,000 with 26,000 reals given, docs/sample_quality.md), noise
    never, though the argmax of noise still names a triple; one real triple repeated covers one."""
    from gan_lightning.metrics.scores import SampleScores

    reference = stacked(tmp_path, image_size=32, reference_size=6000).reference_images()
    scores = SampleScores("stacked_mnist", metrics=["modes", "confident"])
    scores.add_real(as_float_batches(reference[:3400], 1000, torch.device("cpu")))  # 10,200 digits
    real = scores.score(as_float_batches(reference[3400:6000], 1000, torch.device("cpu")))
    assert 0.65 < real["confident"] < 0.9 and real["modes_confident"] > 800, real
    noise = torch.rand(600, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    read = scores.score(noise.split(300))
    assert read["modes"] >= 1 and read["confident"] == 0 and read["modes_confident"] == 0, read
    one = scores.score(as_float_batches(reference[3400:3401].expand(200, -1, -1, -1), 200, torch.device("cpu")))
    assert one["confident"] == 1 and one["modes_confident"] == 1 and one["modes"] == 1, one
