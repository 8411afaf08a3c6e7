"""R3GAN (issue 22): the relativistic pairing loss with R1 + R2 and the gamma schedule in every noise-to-image family,
--model r3gan's presets, exact resume, and the W-space features it refuses with the reason."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from ganforge import models
from ganforge.artifacts import checkpoint as ckpt
from ganforge.cli import main
from ganforge.config import PRESETS, resolve
from ganforge.data.base import DatasetInfo
from ganforge.errors import ConfigError
from ganforge.models.r3gan import R3GANGenerator, ResidualBlock
from ganforge.training import train

from ..cli.exports import random_export

RPGAN = {"loss.name": "rpgan", "loss.r1_gamma": 0.1, "loss.r2_gamma": 0.1, "loss.gamma_schedule": "cosine"}
R3GAN_PRESETS = [name for name in PRESETS if name.startswith("r3gan")]


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        {"model.name": "dcgan"},
        {"model.name": "dcgan", "data.cond": True, "augment.policy": "diffaug"},
        {
            "model.name": "stylegan2",
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,
            "loss.r1_interval": 2,
        },
        {
            "model.name": "stylegan2-ada",
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,
            "model.mixed_resolutions": 0,
        },
        {"model.name": "r3gan", "model.max_channels": 32, "model.z_dim": 16, "data.cond": True},
        {"model.name": "pix2pix", "data.source": "shapes-edges", "train.batch": 8},
    ],
    ids=["dcgan", "dcgan-cond-diffaug", "stylegan2-lazy", "stylegan2-ada", "r3gan-cond", "pix2pix"],
)
def test_rpgan_with_r1_and_r2_trains_every_family_finitely(tiny, extra):
    result = train(overrides={**tiny, **RPGAN, **extra}, progress=False)
    rows = _rows(result.run_dir)
    assert rows and all(math.isfinite(row[key]) for row in rows for key in ("loss_D", "loss_G", "loss_penalty"))
    assert any(row["loss_penalty"] > 0 for row in rows)  # R1 + R2 were applied
    state = ckpt.load(result.checkpoint)
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())


@pytest.mark.slow
def test_r3gan_resume_is_exact(tiny, tmp_path):
    """2N kimg in one go == N, then N more resumed: identical G, D, G_ema and Adam state, under RpGAN + R1 + R2 with
    a cosine gamma schedule, lazy regularisation, conditioning and augmentation."""
    settings = {
        **tiny,
        **RPGAN,
        "model.name": "r3gan",
        "model.max_channels": 32,
        "model.z_dim": 16,
        "data.cond": True,
        "augment.policy": "diffaug",
        "loss.r1_interval": 2,
        "loss.gamma_decay_kimg": 0.2,
        "train.total_kimg": 0.192,
        "train.snapshot_every_kimg": 0.5,
    }
    whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False)
    train(overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.096}, progress=False)
    resumed = train(
        resume="auto", overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.192}, progress=False
    )
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    assert a["images_seen"] == b["images_seen"] == 192
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys() and all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert all(
        torch.equal(x["exp_avg"], y["exp_avg"])
        for x, y in zip(a["opt_D"]["state"].values(), b["opt_D"]["state"].values())
    )


def test_gamma_schedule_scales_the_penalties(tiny):
    """The objective's gamma factor follows the cosine schedule of the images seen (set as the loop asks for lr)."""
    from ganforge.data import build
    from ganforge.training.objectives import NoiseToImage

    cfg = resolve({**tiny, **RPGAN, "loss.gamma_decay_kimg": 10.0, "loss.gamma_final_ratio": 0.2})
    dataset = build(cfg.data, cache=False)
    objective = NoiseToImage(cfg, dataset.info, 0, torch.device("cpu"), torch.contiguous_format)
    objective.lr_scale(5.0)
    assert objective.gamma_scale == pytest.approx(0.6)
    objective.lr_scale(10.0)
    assert objective.gamma_scale == pytest.approx(0.2)


@pytest.mark.parametrize("preset", R3GAN_PRESETS)
def test_presets_build_the_papers_networks(preset):
    """Every R3GAN preset builds G and D at its resolution; the CPU-sized one also runs forward."""
    cfg = resolve(preset=preset)
    assert (cfg.model.name, cfg.loss.name, cfg.loss.gamma_schedule) == ("r3gan", "rpgan", "cosine")
    assert cfg.loss.r1_gamma == cfg.loss.r2_gamma > 0
    resolution = PRESETS[preset].resolution
    G, D = models.build(cfg.model, DatasetInfo("t", resolution, 3), 0, cfg.loss.name)
    blocks = [m for m in G.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == cfg.model.blocks_per_stage * (int(math.log2(resolution)) - 1)
    assert all(not block.linear_layer3.layer.weight.any() for block in blocks)  # fix-up: branches start at zero
    assert blocks[0].linear_layer2.layer.groups == 2 * blocks[0].linear_layer1.layer.in_channels // 16
    if preset.endswith("-cpu"):
        images = G(torch.randn(2, cfg.model.z_dim))
        assert images.shape == (2, 3, resolution, resolution) and D(images).shape == (2,)


def test_widths_follow_the_papers_ffhq_256_configuration():
    G = R3GANGenerator(64, 256, 3, base_channels=96, max_channels=768, blocks_per_stage=1)
    widths = [stage.layers[-1].linear_layer1.layer.in_channels for stage in G.main_layers]
    assert widths == [768, 768, 768, 768, 384, 192, 96]
    cardinalities = [stage.layers[-1].linear_layer2.layer.groups for stage in G.main_layers]
    assert cardinalities == [96, 96, 96, 96, 48, 24, 12]  # the paper's CardinalityPerStage


def test_resampling_is_the_interpolating_fir_filter():
    """Upsampling keeps a constant image constant away from the border (4 x the kernel sums to 1 per output
    phase), as the [1, 3, 3, 1] interpolation filter must; downsampling averages with the same kernel."""
    G = R3GANGenerator(8, 8, 1, base_channels=4, max_channels=4, blocks_per_stage=1)
    resampler = G.main_layers[1].layers[0].resampler
    constant = torch.full((1, 4, 4, 4), 0.5)
    assert torch.allclose(resampler(constant)[:, :, 1:-1, 1:-1], torch.full((1, 4, 6, 6), 0.5))
    down = models.r3gan.Resampler(4, up=False)
    assert torch.allclose(down(torch.full((1, 4, 8, 8), 0.5))[:, :, 1:-1, 1:-1], torch.full((1, 4, 2, 2), 0.5))


@pytest.mark.parametrize(
    "flags, text",
    [
        (["--progressive"], "progressive growing needs --model stylegan2"),
        (["--pl-weight", "2"], "--pl-weight: path-length regularisation needs a style-based --model"),
        (["--style-mixing", "0.9"], "--style-mixing: style mixing needs a style-based --model"),
    ],
)
def test_w_space_training_flags_are_refused(tmp_path, flags, text):
    result = CliRunner().invoke(
        main, ["train", "--preset", "r3gan-32-cpu", "--data", "shapes", *flags, "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code != 0 and text in result.output, result.output
    assert not (tmp_path / "runs").exists()


def test_w_space_latent_tools_are_refused(tmp_path):
    """No mapping network, no W: mixing and W-space projection say so; z-space tools work."""
    folder = random_export(tmp_path / "r3", "r3gan", g_channels=8, max_channels=16, z_dim=16)
    runner = CliRunner()
    mixed = runner.invoke(main, ["mix", str(folder), "--rows", "1", "--cols", "2", "--out", str(tmp_path / "m.png")])
    assert mixed.exit_code == 1 and "style mixing needs a style-based generator" in mixed.output, mixed.output
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 30, 30)).save(tmp_path / "photo.png")
    projected = runner.invoke(
        main,
        [
            "project",
            str(folder),
            str(tmp_path / "photo.png"),
            "--space",
            "w",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert projected.exit_code != 0 and "--space" in projected.output, projected.output
    sampled = runner.invoke(main, ["sample", str(folder), "--num", "2", "--outdir", str(tmp_path / "s")])
    assert sampled.exit_code == 0 and len(list((tmp_path / "s").iterdir())) == 2, sampled.output


def test_cyclegan_refuses_r2():
    with pytest.raises(ConfigError, match="--r2-gamma"):
        resolve({"model.name": "cyclegan", "loss.r2_gamma": 1.0})


def test_paper_presets_keep_the_papers_rates_and_the_cpu_preset_its_measured_ones():
    """The paper-sized presets train as the authors' configs; r3gan-32-cpu with the rates that won on stacked digits."""
    for preset in ("r3gan-32", "r3gan-64", "r3gan-256"):
        cfg = resolve(preset=preset)
        assert (cfg.optim.lr, cfg.loss.r1_interval, cfg.loss.gamma_decay_kimg, cfg.optim.schedule_kimg) == (
            2e-4,
            1,
            0.0,
            0.0,
        ), preset
    cpu = resolve(preset="r3gan-32-cpu")
    assert (cpu.optim.lr, cpu.loss.r1_gamma, cpu.loss.r2_gamma, cpu.loss.r1_interval) == (1e-3, 0.5, 0.5, 16)
    assert (cpu.loss.gamma_decay_kimg, cpu.optim.schedule_kimg, cpu.train.total_kimg) == (170.0, 170.0, 200.0)
    assert resolve({"optim.lr": 5e-4}, preset="r3gan-32-cpu").optim.lr == 5e-4  # flags still win over the preset
