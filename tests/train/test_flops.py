"""FLOP accounting: torch's counter against hand counts for a small conv net (forward and backward), the lazy
regularisers weighted by their intervals in a real training iteration, and the on-paper estimate."""

import pytest
import torch
from torch import nn

from ganforge.config import resolve
from ganforge.training.flops import count_flops, iteration_flops, regularisers_at, seconds_per_kimg, synthetic_trainer


def test_small_conv_net_matches_hand_counts_forward_and_backward():
    n, c_in, c_out, side, k = 4, 3, 8, 8, 3
    net = nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=1), nn.Flatten(), nn.Linear(c_out * side * side, 5))
    x = torch.randn(n, c_in, side, side)  # no grad wanted for the input: backward skips d(conv)/d(input)
    conv = 2 * n * c_out * side * side * c_in * k * k  # one multiply-add per weight per output pixel
    linear = 2 * n * c_out * side * side * 5
    assert count_flops(lambda: net(x)) == conv + linear
    # backward: conv weight gradient (one conv's worth), linear input and weight gradients (two matmuls' worth)
    assert count_flops(lambda: net(x).sum().backward()) == (conv + linear) + conv + 2 * linear
    x.requires_grad_(True)  # now the input gradient costs another conv
    assert count_flops(lambda: net(x).sum().backward()) == (conv + linear) + 2 * conv + 2 * linear


def test_regulariser_pattern_follows_the_intervals():
    cfg = resolve(
        {
            "loss.r1_gamma": 1.0,
            "loss.r1_interval": 4,
            "model.name": "stylegan2",
            "loss.pl_weight": 2.0,
            "loss.pl_interval": 2,
        }
    )
    assert [regularisers_at(cfg, step) for step in range(4)] == [
        ((True,), True),
        ((False,), False),
        ((False,), True),
        ((False,), False),
    ]
    two_d_steps = cfg.replace(**{"optim.d_steps": 2})
    assert regularisers_at(two_d_steps, 1) == ((False, False), False) and regularisers_at(two_d_steps, 2)[0] == (
        True,
        False,
    )


@pytest.mark.slow
def test_iteration_flops_weigh_lazy_r1_by_its_interval(tiny):
    base = {**tiny, "data.resolution": 16, "model.g_channels": 8, "model.d_channels": 8, "train.batch": 4}
    flops = {}
    for name, extra in {
        "plain": {},
        "every": {"loss.r1_gamma": 1.0},
        "lazy": {"loss.r1_gamma": 1.0, "loss.r1_interval": 4},
    }.items():
        trainer, stream = synthetic_trainer(resolve({**base, **extra}), torch.device("cpu"))
        flops[name] = iteration_flops(trainer, stream)
        assert trainer.step == 0 and trainer.images_seen == 0  # counting leaves the schedule where it was
    r1 = flops["every"] - flops["plain"]
    assert r1 > 0.2 * flops["plain"]  # a double backward through D is no rounding error
    assert flops["lazy"] == pytest.approx(flops["plain"] + r1 / 4)


def test_on_paper_seconds_per_kimg():
    assert seconds_per_kimg(1e9, peak_flops=1e12, mfu=0.5) == pytest.approx(2.0)  # 1e12 FLOPs at 5e11 FLOP/s
    assert seconds_per_kimg(1e9, peak_flops=1e12) == pytest.approx(2.5)  # 40 % by default
