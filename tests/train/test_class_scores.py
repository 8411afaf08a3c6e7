"""Dual projection D for class-conditional training (--class-weight, issue 27): the projection D's score of every
class is also trained as a classifier, on real images in D's step and on fakes under their label in G's step, so
that a fake whose shape a class-reading D misreads is punished directly (on the built-in shapes the projection D
alone let G tie each class to one colour)."""

import functools

import pytest
import torch
import torch.nn.functional as F

from ganforge import config, data
from ganforge.training.growth import Growth
from ganforge.training.objectives import NoiseToImage

from ..conftest import TINY


@functools.lru_cache(maxsize=1)
def _dataset(cfg: config.DataConfig) -> data.ImageDataset:
    return data.build(cfg)


def _objective(class_weight: float, model: str = "dcgan") -> NoiseToImage:
    """A conditional objective on the tiny shapes (no matching-aware D, so that only the class term reads labels)."""
    cfg = config.resolve(
        {**TINY, "model.name": model, "data.cond": True, "loss.mismatch": False, "loss.class_weight": class_weight}
    )
    info = _dataset(cfg.data).info
    objective = NoiseToImage(cfg, info, info.num_classes, torch.device("cpu"), torch.contiguous_format)
    objective.bind(None, lambda module: module, lambda module: module)
    return objective


def _prepared(objective: NoiseToImage, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch = _dataset(objective.cfg.data).batch(indices)
    return objective.prepare(batch, Growth(objective.info.resolution, 1.0))


@pytest.mark.parametrize("model", ["dcgan", "stylegan2"])
def test_the_logit_is_the_unconditional_output_plus_the_labels_class_score(model):
    objective = _objective(1.0, model)
    real, labels = _prepared(objective, torch.arange(8))
    objective.D.eval()
    with torch.no_grad():
        logits, scores = objective.D(real, labels, class_scores=True)
        assert scores.shape == (8, 5)
        other = (labels + 1) % 5
        # changing the label changes the logit by exactly the difference of the two classes' scores
        shifted = objective.D(real, other)
    torch.testing.assert_close(
        shifted - logits, scores.gather(1, other[:, None]).flatten() - scores.gather(1, labels[:, None]).flatten()
    )


@pytest.mark.parametrize("class_weight,model", [(0.0, "dcgan"), (2.0, "dcgan"), (2.0, "stylegan2")])
def test_g_is_charged_for_fakes_that_d_reads_as_another_class(class_weight, model):
    """G's loss is the adversarial loss + class_weight * cross-entropy of D's class scores on the fakes."""
    objective = _objective(class_weight, model)
    real, labels = _prepared(objective, torch.arange(16))
    torch.manual_seed(1)
    objective.d_step((real, labels), d_step=0, keep_fakes=True)
    fake = objective._fake
    with torch.no_grad():
        logits, scores = objective.D(fake, labels, class_scores=True)
    stats = objective.g_step((real, labels), step=0)
    expected = F.softplus(-logits).mean() + class_weight * F.cross_entropy(scores, labels)
    torch.testing.assert_close(stats["loss_G"], expected)


@pytest.mark.parametrize("class_weight", [0.0, 2.0])
def test_d_learns_to_classify_the_real_images(class_weight):
    """D's loss is the adversarial loss + class_weight * cross-entropy of its class scores on the reals."""
    objective = _objective(class_weight)
    real, labels = _prepared(objective, torch.arange(16))
    torch.manual_seed(1)
    stats = objective.d_step((real, labels), d_step=0, keep_fakes=True)
    with torch.no_grad():
        real_logits, scores = objective.D(real, labels, class_scores=True)
        fake_logits = objective.D(objective._fake.detach(), labels)
    expected = (
        F.softplus(-real_logits).mean()
        + F.softplus(fake_logits).mean()
        + class_weight * F.cross_entropy(scores, labels)
    )
    torch.testing.assert_close(stats["loss_D"], expected)


def test_a_d_without_class_scores_trains_without_the_term():
    """R3GAN's projection D gives no class scores: its conditional objective runs with the adversarial loss only."""
    objective = _objective(1.0, "r3gan")
    assert not objective.classify
    stats = objective.d_step(_prepared(objective, torch.arange(16)), d_step=0, keep_fakes=False)
    assert "loss_class_real" not in stats and torch.isfinite(stats["loss_D"])
