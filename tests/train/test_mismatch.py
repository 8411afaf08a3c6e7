"""Matching-aware D for class-conditional training (issue 27): each D step also scores the real images under a
wrong label, on the fake side of its loss, so that D must read the class from the image itself (on the built-in
shapes a projection D alone let G tie each class to one colour and draw shapes near chance)."""

import functools

import pytest
import torch

from ganforge import config, data
from ganforge.training.growth import Growth
from ganforge.training.objectives import NoiseToImage

from ..conftest import TINY


@functools.lru_cache(maxsize=1)
def _dataset(cfg: config.DataConfig) -> data.ImageDataset:
    return data.build(cfg)


def _objective(mismatch: bool) -> tuple[NoiseToImage, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A conditional DCGAN objective on the tiny shapes whose D records every (images, labels) it judges."""
    cfg = config.resolve({**TINY, "data.cond": True, "loss.mismatch": mismatch})
    info = _dataset(cfg.data).info
    torch.manual_seed(0)
    objective = NoiseToImage(cfg, info, info.num_classes, torch.device("cpu"), torch.contiguous_format)
    calls = []
    judge = objective.D.forward
    objective.D.forward = lambda images, labels, **kw: (calls.append((images, labels)), judge(images, labels, **kw))[1]
    objective.bind(None, lambda module: module, lambda module: module)
    return objective, calls


def _prepared(objective: NoiseToImage, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real images [N, C, R, R] in [-1, 1] and their labels [N], as the loop hands them to the objective."""
    batch = _dataset(objective.cfg.data).batch(indices)
    return objective.prepare(batch, Growth(objective.info.resolution, 1.0))


@pytest.mark.parametrize("mismatch", [True, False])
def test_d_judges_the_reals_under_a_wrong_label_only_with_mismatch(mismatch):
    objective, calls = _objective(mismatch)
    real, labels = _prepared(objective, torch.arange(16))
    objective.d_step((real, labels), d_step=0, keep_fakes=False)
    on_reals = [judged for images, judged in calls if torch.equal(images, real)]
    assert len(on_reals) == (2 if mismatch else 1), len(on_reals)
    assert torch.equal(on_reals[0], labels)  # the reals under their own label
    if mismatch:
        assert (on_reals[1] != labels).all() and on_reals[1].min() >= 0 and on_reals[1].max() < 5


@pytest.mark.slow
def test_mismatch_teaches_d_the_label_of_real_images():
    """D steps alone (G untouched): with mismatch D scores reals higher under their own label than under another."""
    objective, _ = _objective(True)
    optimiser = torch.optim.Adam(objective.D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        optimiser.zero_grad()
        objective.d_step(_prepared(objective, torch.randint(9000, (16,), generator=generator)), 0, keep_fakes=False)
        optimiser.step()
    real, labels = _prepared(objective, torch.arange(9800, 10000))  # images D never saw
    objective.D.eval()
    with torch.no_grad():
        own = objective.D(real, labels)
        other = objective.D(real, (labels + 1 + torch.randint(4, labels.shape)) % 5)
    assert (own - other).mean() > 1.2, (own - other).mean()  # measured: 2.52; with --no-mismatch 0.61
