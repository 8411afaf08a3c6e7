"""The target-domain share (metrics/domain.py): a classifier of the two real domains that sees colour and texture,
so a translation that keeps the source domain's look is not counted as reaching the target domain."""
from __future__ import annotations

import pytest
import torch

from ganforge.data.unpaired import digits_stylized
from ganforge.metrics.domain import train_domain_judge


@pytest.fixture(scope="module")
def domains():
    """digits-stylized at 16 px: (train A, train B, test A, test B), A grey digits as 3 channels, B posters."""
    train, test = digits_stylized(16), digits_stylized(16, split="test")
    return (train.batch(torch.arange(len(train.side_a)))[1], train.side_b.images,
            test.batch(torch.arange(len(test.side_a)))[1], test.side_b.images)


@pytest.fixture(scope="module")
def judge(domains):
    return train_domain_judge(*domains, steps=80)


@pytest.mark.slow  # trains the domain classifier (seconds on a quiet CPU)
def test_real_domains_are_told_apart_on_held_out_images(judge, domains):
    _, _, test_a, test_b = domains
    assert judge.held_out_accuracy >= 0.95
    assert judge.share(test_b, 1) >= 0.95 and judge.share(test_a, 1) <= 0.05  # the identity baseline of A -> B


@pytest.mark.slow  # trains the domain classifier (seconds on a quiet CPU)
def test_speckled_grey_digits_are_not_posters(judge, domains):
    """The failure FID missed: digit -> poster outputs that are grey digits with speckle, nothing like a poster."""
    _, _, test_a, _ = domains
    noise = torch.randn(test_a.shape, generator=torch.Generator().manual_seed(0)) * 30
    speckled = (test_a.float() + noise).clamp(0, 255).to(torch.uint8)
    assert judge.share(speckled, 1) <= 0.2


@pytest.mark.slow  # trains the domain classifier (seconds on a quiet CPU)
def test_colour_alone_is_seen(judge, domains):
    """Grey digits tinted with the posters' mean colour move toward B: the classifier reads colour, not shape only."""
    _, _, test_a, test_b = domains
    tint = test_b.float().mean(dim=(0, 2, 3)) / test_b.float().mean()  # [3] relative colour of the posters
    tinted = (test_a.float() * tint.view(1, 3, 1, 1)).clamp(0, 255).to(torch.uint8)
    assert judge.share(tinted, 1) >= judge.share(test_a, 1)


def test_same_seed_same_judge_and_global_rng_untouched(domains):
    before = torch.random.get_rng_state()
    first = train_domain_judge(domains[0][:64], domains[1][:64], steps=2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = train_domain_judge(domains[0][:64], domains[1][:64], steps=2, seed=3)
    for a, b in zip(first.classifier.parameters(), second.classifier.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="different image shapes"):
        train_domain_judge(domains[0], domains[1][:, :1])
