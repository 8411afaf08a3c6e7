import math

import pytest
import torch

from ganforge.losses import LOSSES, gradient_penalty, r1_penalty, schedule_factor


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
    real = (torch.zeros(4),) if loss.relativistic else ()
    assert loss.g_loss(torch.full((4,), 3.0), *real) < loss.g_loss(torch.full((4,), -3.0), *real)


def test_rpgan_pairs_real_and_fake_logits():
    """softplus(-(D(x) - D(G(z)))) for D, softplus(-(D(G(z)) - D(x))) for G, averaged over the pairs."""
    rpgan = LOSSES.get("rpgan")
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert rpgan.d_loss(real, fake).item() == pytest.approx((softplus(-3) + softplus(1)) / 2, rel=1e-6)
    assert rpgan.g_loss(fake, real).item() == pytest.approx((softplus(3) + softplus(-1)) / 2, rel=1e-6)
    # only differences matter: shifting every logit by the same amount changes nothing (unlike bce)
    assert rpgan.d_loss(real + 5, fake + 5).item() == pytest.approx(rpgan.d_loss(real, fake).item(), rel=1e-6)
    # pairing: swapping which fake meets which real changes the loss
    assert rpgan.d_loss(real, fake.flip(0)).item() != pytest.approx(rpgan.d_loss(real, fake).item())
    assert rpgan.relativistic and not LOSSES.get("bce").relativistic


def test_r2_penalty_on_fakes_of_a_toy_discriminator():
    """D(x) = sum(w * x^2): grad = 2 w x, so R2 at fakes x is E[||2 w x||^2], and its gradient reaches w."""
    weight = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    fakes = torch.randn(4, 1, 2, 2).requires_grad_(True)
    logits = (fakes[:, 0] ** 2 * weight).sum((1, 2))
    penalty = r1_penalty(logits, fakes)
    expected = (2 * weight.detach() * fakes.detach()[:, 0]).square().sum((1, 2)).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)
    penalty.backward()  # d/dw E[sum 4 w^2 x^2] = E[8 w x^2]
    assert torch.allclose(weight.grad, (8 * weight.detach() * fakes.detach()[:, 0] ** 2).mean(0), rtol=1e-5)


def test_gamma_schedule_values():
    assert schedule_factor("constant", 50.0, 100.0, 0.1) == 1.0
    assert schedule_factor("cosine", 0.0, 100.0, 0.1) == pytest.approx(1.0)
    assert schedule_factor("cosine", 50.0, 100.0, 0.1) == pytest.approx(0.55)  # halfway: the mean of start and end
    assert schedule_factor("cosine", 25.0, 100.0, 0.1) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
    assert schedule_factor("cosine", 100.0, 100.0, 0.1) == pytest.approx(0.1)
    assert schedule_factor("cosine", 300.0, 100.0, 0.1) == pytest.approx(0.1)  # held at the end (no cosine rebound)


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
