"""FID, KID and IS behave as a user expects: real vs real near zero, noise far, sane ranges."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_lightning.data.idx import read_idx_labels
from gan_lightning.data.mnist import MNISTDataModule
from gan_lightning.metrics.classifier import WEIGHTS_DIR, load_classifier, to_classifier_input
from gan_lightning.metrics.scores import MetricUnavailable, SampleScores, as_float_batches
from gan_lightning.metrics.train_classifier import main as train_classifier_main

CPU = torch.device("cpu")

# Its module-scoped fixtures are built once: its tests share one worker.
pytestmark = pytest.mark.xdist_group("test_metrics")


@pytest.fixture(scope="module")
def real_halves(tmp_path_factory) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sets of 2,000 real digits (the embedded MNIST test split)."""
    datamodule = MNISTDataModule(default_root=str(tmp_path_factory.mktemp("empty")), download=False)
    datamodule.setup()
    reference = datamodule.reference_images()
    order = torch.randperm(len(reference), generator=torch.Generator().manual_seed(0))
    return reference[order[:2000]], reference[order[2000:4000]]


@pytest.fixture(scope="module")
def scores(real_halves) -> SampleScores:
    scores = SampleScores("mnist")
    scores.add_real(as_float_batches(real_halves[0], 500, CPU))
    return scores


def test_real_against_real_is_near_zero_and_scores_like_digits(scores, real_halves):
    values = scores.score(as_float_batches(real_halves[1], 500, CPU))
    assert 0 <= values["fid"] < 0.5
    assert abs(values["kid"]) < 0.01
    assert 8 < values["is"] <= 10  # ten classes, each recognised: IS near its maximum of 10
    assert values["modes"] == 10 and 0 <= values["class_kl"] < 0.01  # every digit, as often as in the test set


def test_noise_is_far_from_real(scores):
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    values = scores.score([noise])
    assert values["fid"] > 100 and values["kid"] > 1
    assert 1 <= values["is"] < 2  # one confident (or no) class for everything


def test_one_digit_repeated_has_a_low_inception_score(scores, real_halves):
    one = as_float_batches(real_halves[1][:1].expand(2000, -1, -1, -1), 500, CPU)
    values = scores.score(one)
    assert values["is"] < 1.1 and values["fid"] > 10
    assert values["modes"] == 1 and values["class_kl"] > 2  # collapsed: log(1 / 0.1) is 2.3


def test_scores_are_reproducible_and_leave_the_global_rng_alone(scores, real_halves):
    torch.manual_seed(123)
    first = scores.score(as_float_batches(real_halves[1], 500, CPU), seed=5)
    after = torch.rand(1)
    torch.manual_seed(123)
    second = scores.score(as_float_batches(real_halves[1], 500, CPU), seed=5)
    assert first == second and torch.equal(after, torch.rand(1))


def test_shipped_classifier_is_small_and_takes_any_image_shape():
    path = WEIGHTS_DIR / "mnist.pt"
    assert path.stat().st_size < 1_000_000
    saved = torch.load(path, weights_only=True)
    assert saved["test_accuracy"] > 0.97
    classifier = load_classifier("mnist")
    rgb64 = torch.zeros(3, 3, 64, 64)
    assert to_classifier_input(rgb64).shape == (3, 1, 28, 28)
    assert classifier(to_classifier_input(rgb64)).shape == (3, 10)


@pytest.mark.slow
def test_shipped_classifier_accuracy_on_the_full_test_split(mnist_root):
    """The accuracy docs/sample_quality.md records, measured again on the 10,000 test digits."""
    raw = mnist_root / "MNIST" / "raw"
    datamodule = MNISTDataModule(root=str(mnist_root), download=False)
    images = datamodule.reference_images()
    labels = read_idx_labels(next(raw.glob("t10k-labels-idx1-ubyte*")))
    classifier = load_classifier("mnist")
    with torch.no_grad():
        predicted = torch.cat([classifier(batch).argmax(1) for batch in as_float_batches(images, 1000, CPU)])
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy == pytest.approx(torch.load(WEIGHTS_DIR / "mnist.pt")["test_accuracy"], abs=1e-4)


def write_idx(path: Path, array: np.ndarray) -> None:
    dims = array.ndim
    header = bytes([0, 0, 8, dims]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_classifier_training_command_is_reproducible(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 384)
    # Learnable: the brightness of a band encodes the label.
    images = rng.integers(0, 40, (384, 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 3] = 255
    for split, n in (("train", 256), ("t10k", 128)):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", images[:n] if split == "train" else images[256:])
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", labels[:n] if split == "train" else labels[256:])
    for out in ("a.pt", "b.pt"):
        train_classifier_main(["--data-root", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / out)])
    assert "test accuracy" in capsys.readouterr().out
    first, second = (torch.load(tmp_path / out, weights_only=True) for out in ("a.pt", "b.pt"))
    assert all(torch.equal(first["state_dict"][k], second["state_dict"][k]) for k in first["state_dict"])
    assert load_classifier(str(tmp_path / "a.pt"))(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_classifier_training_without_data_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_classifier_main(["--data-root", str(tmp_path)])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error:") and "train-images-idx3-ubyte" in line


def test_unknown_classifier_names_the_shipped_ones():
    with pytest.raises(ValueError, match="shipped: mnist"):
        SampleScores("cifar")


def _offline(*args, **kwargs):
    raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")


def test_inception_without_weights_says_what_to_do(monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    import gan_lightning.metrics.scores as scores

    monkeypatch.setattr(inception, "load_state_dict_from_url", _offline)  # offline, whatever the machine
    monkeypatch.setattr(scores, "installed_torchscript", lambda: None)  # and without the [fid] extra
    monkeypatch.setattr(scores, "_hub_cached", lambda: False)
    with pytest.raises(MetricUnavailable, match="Inception-v3 weights could not be loaded.*inception_weights=<file>"):
        SampleScores("inception")


@pytest.mark.slow
def test_inception_from_a_local_weights_file(tmp_path, monkeypatch):
    """The RGB path end to end, with randomly initialised weights standing in for the real file."""
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    with monkeypatch.context() as patch:
        patch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: None)
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(network.state_dict(), tmp_path / "inception.pth")
    scores = SampleScores("inception", inception_weights=str(tmp_path / "inception.pth"))
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    scores.add_real([images[:6]])
    values = scores.score([images[6:]])
    prdc = {"precision", "recall", "density", "coverage"}
    assert set(values) == {"fid", "kid", "kid_std", "is", "is_std"} | prdc  # no mode coverage on ImageNet's classes
    assert math.isfinite(values["fid"]) and values["fid"] > 0 and math.isfinite(values["is"])
