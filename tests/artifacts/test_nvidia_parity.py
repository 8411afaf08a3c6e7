"""Imported NVIDIA stylegan2-ada-pytorch network pickles compute what NVIDIA's own code computes.

The fixtures in tests/artifacts/fixtures/ (sg2_*.pkl + sg2_*.npz) were made once, outside this repository, with
NVlabs/stylegan2-ada-pytorch (commit d72cc7d) checked out in a scratch folder and run on the CPU under torch 2.13
(their custom ops fall back to the reference path there; dnnlib's `import requests` was stubbed out):
1. Build `training.networks.Generator` and `Discriminator` with tiny widths (channel_base = 8 * resolution,
   channel_max 8-16, z/w 16, two mapping layers, D's mbstd group 2), set random biases, noise strengths and w_avg so
   every term counts, make G_ema a perturbed copy of G, and an `AugmentPipe` ('bgc' transforms) with p = 0.123.
2. Save the training loop's snapshot: `pickle.dump(dict(training_set_kwargs=..., G=..., D=..., G_ema=...,
   augment_pipe=...))` of deep copies in eval mode, with every persistent class's `_orig_module_src` set to a
   one-line placeholder, so that the files hold no NVIDIA source (and ganforge shows it does not need it).
3. Reference outputs (.npz) from their modules in fp32 (`force_fp32=True`), `noise_mode='const'`: for fixed z (and
   one-hot classes 0, 1, 2, 0) the image at psi 1; the ws; random ws -> image; psi 0.7 (ws and image); psi 0.5 with
   truncation_cutoff 2; the ws of z mixed after layer 2 with those of z2 -> image; the non-EMA G's image; D's
   logits for random images and for the generated ones.
Configurations: 16 px RGB unconditional, G skip / D resnet, num_fp16_res 2, conv_clamp 256; 8 px RGB with 3
classes, G resnet / D skip, no clamp; 32 px grayscale unconditional, G orig / D orig, num_fp16_res 1, conv_clamp 2.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge import models
from ganforge.artifacts import foreign
from ganforge.config import from_dict
from ganforge.data.base import DatasetInfo
from ganforge.latent.mixing import mix_styles

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGS = ["sg2_16px_skip_resnet", "sg2_8px_cond_resnet_skip", "sg2_32px_gray_orig_orig"]
TOLERANCE = 1e-4  # max |difference| of images in [-1, 1], fp32, CPU


def _reference(name: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in np.load(FIXTURES / f"{name}.npz").items()}


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() <= TOLERANCE


@pytest.fixture(scope="module", params=CONFIGS)
def imported(request):
    generator = ganforge.load(FIXTURES / f"{request.param}.pkl")
    ref = _reference(request.param)
    labels = ref["labels"] if generator.num_classes else None
    return generator, ref, labels


def test_image_from_z_matches(imported):
    generator, ref, labels = imported
    _close(generator.synthesize(ref["z"], labels), ref["image"])


def test_mapping_and_ws_to_image_match(imported):
    generator, ref, labels = imported
    _close(generator.styles(ref["z"], labels), ref["ws"])
    _close(generator.synthesize_styles(ref["ws_random"]), ref["image_ws_random"])


def test_truncation_toward_the_stored_w_avg_matches(imported):
    generator, ref, labels = imported
    _close(generator.styles(ref["z"], labels, truncation=0.7), ref["ws_psi07"])
    _close(generator.synthesize(ref["z"], labels, truncation=0.7), ref["image_psi07"])
    with torch.no_grad():  # truncation of the first two ws only (NVIDIA's truncation_cutoff)
        ws = generator.module.map(ref["z"], labels, psi=0.5, cutoff=2)
        _close(generator.module.synthesis(ws, noise_mode="const"), ref["image_psi05_cutoff2"])


def test_style_mixing_matches(imported):
    generator, ref, labels = imported
    ws, ws2 = generator.styles(ref["z"], labels), generator.styles(ref["z2"], labels)
    mixed = mix_styles(ws, ws2, crossover=2)  # [R, C, num_ws, w_dim]: cell (i, i) = first 2 of ws[i], rest of ws2[i]
    diagonal = mixed[torch.arange(len(ws)), torch.arange(len(ws))]
    _close(generator.synthesize_styles(diagonal), ref["image_mixed_at2"])


@pytest.mark.parametrize("name", CONFIGS)
def test_discriminator_and_raw_generator_match(name):
    model = foreign.read(FIXTURES / f"{name}.pkl")
    ref = _reference(name)
    cfg = from_dict({"model": model.model}).model
    G, D = models.build(cfg, DatasetInfo.from_dict(model.dataset), model.num_classes)
    D.load_state_dict(model.discriminator)
    G.load_state_dict(model.generator_raw)
    labels = ref["labels"] if model.num_classes else None
    with torch.no_grad():
        _close(D.eval()(ref["reals"], labels), ref["logits_reals"][:, 0])
        _close(D(ref["image"], labels), ref["logits_fakes"][:, 0])
        _close(G.eval()(ref["z"], labels, noise_mode="const"), ref["image_G_raw"])
    assert not torch.equal(model.generator_raw["synthesis.b4.const"], model.generator["synthesis.b4.const"])


def test_what_the_reader_takes_from_the_snapshot():
    model = foreign.read(FIXTURES / "sg2_8px_cond_resnet_skip.pkl")
    assert model.model["name"] == "stylegan2-ada" and model.num_classes == 3
    assert model.dataset["resolution"] == 8 and model.dataset["name"] == "sg2_8px_cond_resnet_skip.zip"
    assert model.augment_p == pytest.approx(0.123)
    assert set(model.contents) == {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}


@pytest.mark.parametrize("resolution", [4, 8, 64, pytest.param(1024, marks=pytest.mark.slow)])
@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_every_resolution_and_architecture_builds_and_draws(resolution, architecture):
    kwargs = {
        "z_dim": 4,
        "c_dim": 2,
        "w_dim": 4,
        "img_resolution": resolution,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 1},
        "synthesis_kwargs": {
            "channel_base": 2 * resolution,
            "channel_max": 2,
            "architecture": architecture,
            "num_fp16_res": 4,
            "conv_clamp": 256,
        },
    }
    G = models.nvidia_sg2.NvidiaGenerator(**kwargs).eval()
    with torch.no_grad():
        images = G(torch.randn(2, 4), torch.tensor([0, 1]))
    assert images.shape == (2, 3, resolution, resolution) and torch.isfinite(images).all()
    assert G.num_ws == 2 * int(np.log2(resolution)) - 2  # two convs per block (one at 4x4) + the last toRGB
    if resolution >= 8:
        D = models.nvidia_sg2.NvidiaDiscriminator(
            c_dim=2,
            img_resolution=resolution,
            img_channels=3,
            architecture=architecture,
            channel_base=2 * resolution,
            channel_max=2,
        )
        with torch.no_grad():
            assert D(images, torch.tensor([0, 1])).shape == (2,)
