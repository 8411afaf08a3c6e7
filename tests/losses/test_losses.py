import math

import pytest
import torch

from ganforge.losses import LOSSES, gradient_penalty, r1_penalty


def test_loss_values_on_known_logits():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    bce = LOSSES.get("bce")
    expected_d = (math.log1p(math.exp(-2)) + math.log(2)) / 2 + (math.log1p(math.exp(-1)) + math.log1p(math.exp(1))) / 2
    assert bce.d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert bce.g_loss(fake).item() == pytest.approx((math.log1p(math.exp(1)) + math.log1p(math.exp(-1))) / 2, rel=1e-6)
    assert LOSSES.get("hinge").d_loss(real, fake).item() == pytest.approx((0 + 1) / 2 + (0 + 2) / 2)
    assert LOSSES.get("wgan-gp").d_loss(real, fake).item() == pytest.approx(0.0 - 1.0)
    assert LOSSES.get("lsgan").g_loss(fake).item() == pytest.approx(0.5 * (4 + 0) / 2)
    assert LOSSES.get("wgan-gp").gradient_penalty and not LOSSES.get("bce").gradient_penalty


@pytest.mark.parametrize("name", LOSSES.names())
def test_d_loss_prefers_correct_discriminator(name):
    loss = LOSSES.get(name)
    good = loss.d_loss(torch.full((4,), 3.0), torch.full((4,), -3.0))
    bad = loss.d_loss(torch.full((4,), -3.0), torch.full((4,), 3.0))
    assert good < bad
    assert loss.g_loss(torch.full((4,), 3.0)) < loss.g_loss(torch.full((4,), -3.0))


def test_r1_of_a_linear_discriminator_is_the_squared_weight_norm():
    weight = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    x = torch.randn(5, 1, 2, 2, requires_grad=True)
    logits = (x[:, 0] * weight).sum((1, 2))
    penalty = r1_penalty(logits, x)
    assert penalty.item() == pytest.approx((weight**2).sum().item(), rel=1e-6)
    penalty.backward()  # d/dw ||w||^2 = 2w
    assert torch.allclose(weight.grad, 2 * weight.detach())


def test_gradient_penalty_is_zero_for_a_unit_norm_critic():
    direction = torch.randn(3 * 4 * 4)
    direction = direction / direction.norm()
    critic = lambda x: x.flatten(1) @ direction  # noqa: E731
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: 3 * critic(x), real, fake).item() == pytest.approx(4.0, rel=1e-5)
