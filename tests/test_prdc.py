"""Precision, recall, density and coverage against a direct numpy computation, and where a
user reads them: in training's val/* and in gan-eval."""

import numpy as np
import pytest
import torch

from gan_lightning.metrics.prdc import prdc
from gan_lightning.metrics.registry import METRICS


def numpy_prdc(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The definitions, all pairs at once: k = 3 for precision and recall, 5 for density and coverage."""

    def distances(a, b):
        return np.linalg.norm(a[:, None] - b[None], axis=-1)

    real_real, fake_fake, fake_real = distances(real, real), distances(fake, fake), distances(fake, real)
    real_3, real_5 = np.sort(real_real, 1)[:, 3], np.sort(real_real, 1)[:, 5]  # column 0: itself
    fake_3 = np.sort(fake_fake, 1)[:, 3]
    return {
        "precision": (fake_real <= real_3[None]).any(1).mean(),
        "recall": (fake_real <= fake_3[:, None]).any(0).mean(),
        "density": (fake_real <= real_5[None]).sum() / (5 * len(fake)),
        "coverage": (fake_real.min(0) <= real_5).mean(),
    }


@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0])
def test_prdc_matches_the_definitions_in_chunks(shift):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16))
    fake = rng.normal(size=(250, 16)) * 0.7 + shift  # narrower, and moved away
    expected = numpy_prdc(real, fake)
    got = prdc(torch.from_numpy(real), torch.from_numpy(fake), chunk=64)  # several chunks each way
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value, abs=1e-9), name
    if shift == 3.0:  # far from the data: nothing looks real, nothing is covered
        assert got["precision"] < 0.05 and got["coverage"] < 0.05


def test_a_set_against_itself_is_all_precision_recall_and_coverage():
    features = torch.randn(400, 32, generator=torch.Generator().manual_seed(1))
    values = prdc(features, features)
    assert values["precision"] == values["recall"] == values["coverage"] == 1
    assert 0.9 < values["density"] < 1.5  # each sample sits in its own ball and a few others


def test_prdc_is_in_the_registry_for_every_network():
    assert "prdc" in METRICS and METRICS["prdc"](torch.nn.Identity()) is not None
