"""The objective seam: a family with four networks trains, checkpoints and resumes exactly through the unchanged
loop, which builds optimisers, EMA copies and checkpoint keys from the objective's declarations."""

import pytest
import torch
from torch import nn

from ganforge import models
from ganforge.artifacts import checkpoint as ckpt
from ganforge.imaging import to_float, to_uint8
from ganforge.training import train
from ganforge.training.objectives import OBJECTIVES, Objective, Phase


class _Tiny(nn.Module):
    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)

    def forward(self, x, labels=None):
        return torch.tanh(self.conv(x))


class FourNetworks(Objective):
    """Two image-to-image generators and two patch critics, trained on two halves of each batch (a CycleGAN-shaped
    toy): proves a family with four networks needs no change to the loop."""

    def __init__(self, cfg, info, num_classes, device, memory_format):
        super().__init__(cfg, info, num_classes, device, memory_format)
        torch.manual_seed(cfg.train.seed)
        c = info.channels
        self.networks = {"G_AB": _Tiny(c, c), "G_BA": _Tiny(c, c), "D_A": _Tiny(c, 1), "D_B": _Tiny(c, 1)}
        self.phases = (Phase("D", ("D_A", "D_B"), discriminator=True), Phase("G", ("G_AB", "G_BA")))
        self.ema = ("G_AB",)
        self.steps_seen = torch.zeros(())

    def prepare(self, batch, stage):
        images = to_float(batch[0])
        half = len(images) // 2
        return images[:half], images[half:]

    def d_step(self, batch, d_step, keep_fakes):
        a, b = batch
        n = self.networks
        loss = (
            n["D_B"](n["G_AB"](a).detach()).square().mean()
            + (n["D_B"](b) - 1).square().mean()
            + n["D_A"](n["G_BA"](b).detach()).square().mean()
            + (n["D_A"](a) - 1).square().mean()
        )
        loss.backward()
        return {"loss_D": loss.detach()}

    def g_step(self, batch, step):
        a, b = batch
        n = self.networks
        loss = (n["D_B"](n["G_AB"](a)) - 1).square().mean() + (n["D_A"](n["G_BA"](b)) - 1).square().mean()
        loss = loss + (n["G_BA"](n["G_AB"](a)) - a).abs().mean()
        loss.backward()
        self.steps_seen += 1
        return {"loss_G": loss.detach()}

    def state_dict(self):
        return {"steps_seen": self.steps_seen.clone()}

    def load_state_dict(self, state):
        self.steps_seen.copy_(state["steps_seen"])

    @torch.no_grad()
    def grid_images(self, ema, dataset, count, seed, kimg):
        a = to_float(dataset.batch(torch.arange(min(count, len(dataset))))[0])
        return to_uint8(ema["G_AB"](a))


@pytest.fixture
def four_networks():
    """A test-only family, registered for the test and removed after it."""
    OBJECTIVES.register("four-networks")(FourNetworks)
    dcgan = models.MODELS.get("dcgan")
    models.MODELS.register("four-networks-test")(
        models.ModelSpec(generator=dcgan.generator, discriminator=dcgan.discriminator, objective="four-networks")
    )
    yield {"model.name": "four-networks-test"}
    models.MODELS.unregister("four-networks-test")
    OBJECTIVES.unregister("four-networks")


@pytest.mark.slow
def test_a_four_network_family_trains_and_resumes_exactly(tiny, tmp_path, four_networks):
    settings = {**tiny, **four_networks, "train.total_kimg": 0.128, "train.snapshot_every_kimg": 0.5}
    whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False)
    state = ckpt.load(whole.checkpoint)
    assert {"G_AB", "G_BA", "D_A", "D_B", "G_AB_ema", "opt_D", "opt_G", "steps_seen"} <= state.keys()
    assert "G_BA_ema" not in state and float(state["steps_seen"]) == 8
    train(overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.064}, progress=False)
    resumed = train(
        resume="auto", overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.128}, progress=False
    )
    again = ckpt.load(resumed.checkpoint)
    for key in ("G_AB", "G_BA", "D_A", "D_B", "G_AB_ema"):
        assert all(torch.equal(state[key][k], again[key][k]) for k in state[key]), key
    assert (whole.run_dir / "samples" / "final.png").exists()


def test_preview_grids_show_a_seeded_sample_of_the_whole_dataset():
    """reals.png and translation grids: not the first files in sorted order (for lfw, all faces), but a random
    sample drawn for a seed, the same every time."""
    from ganforge.data.base import DatasetInfo, TensorImageDataset
    from ganforge.data.sampler import preview_indices
    from ganforge.training.objectives import NoiseToImage

    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 4, 4).contiguous()
    dataset = TensorImageDataset(images, torch.zeros(100), DatasetInfo("sorted", 4, 1))
    shown = NoiseToImage.reals_grid(object.__new__(NoiseToImage), dataset, 16)[:, 0, 0, 0].long()
    assert len(shown) == len(set(shown.tolist())) == 16
    assert (shown >= 50).any() and (shown < 50).any()  # both halves of a sorted folder appear
    assert torch.equal(shown, preview_indices(100, 16))  # the same sample every time for the seed
    assert not torch.equal(preview_indices(100, 16, seed=1), preview_indices(100, 16))
    assert len(preview_indices(5, 16)) == 5
