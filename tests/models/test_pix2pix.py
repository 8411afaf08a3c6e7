"""pix2pix end to end: pairs from photos, training that fits a handful of pairs, translate at any size, eval."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.data.paired import PairedFolderDataset
from ganforge.errors import ConfigError
from ganforge.training import train


def _photos(root, count=6, size=40):
    """Coloured discs and squares on plain backgrounds, as a folder of 'photos'."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = np.zeros((size, size, 3), dtype=np.uint8) + rng.integers(0, 80, 3, dtype=np.uint8)
        y, x = np.mgrid[:size, :size]
        mask = (
            (y - size / 2) ** 2 + (x - size / 2) ** 2 < (size / 4 + index) ** 2
            if index % 2
            else (abs(y - size / 2) < size / 4) & (abs(x - size / 2) < size / 3)
        )
        image[mask] = rng.integers(120, 256, 3, dtype=np.uint8)
        Image.fromarray(image).save(root / f"photo{index}.png")
    return root


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p")
    result = CliRunner().invoke(
        main,
        [
            "pairs",
            "--task",
            "edges",
            str(_photos(root / "photos")),
            "--out",
            str(root / "pairs"),
            "--resolution",
            "32",
            "--holdout",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 edges pairs" in result.output and "2 held out" in result.output
    return root / "pairs"


@pytest.fixture(scope="module")
def fitted(pairs_dir, tmp_path_factory):
    settings = {
        "model.name": "pix2pix",
        "data.source": str(pairs_dir),
        "data.resolution": 32,
        "model.g_channels": 16,
        "model.d_channels": 16,
        "train.batch": 4,
        "train.total_kimg": 0.8,
        "train.snapshot_every_kimg": 1,
        "train.ema_kimg": 0,
        "optim.lr": 1e-3,
        "train.grid_size": 12,
        "train.out": str(tmp_path_factory.mktemp("runs")),
    }
    return train(overrides=settings, progress=False)


def _l1_to_targets(module, dataset) -> float:
    targets, inputs = dataset.batch(torch.arange(len(dataset)))
    with torch.no_grad():
        outputs = module.eval()(inputs.float() / 127.5 - 1)
    return float((outputs - (targets.float() / 127.5 - 1)).abs().mean())


@pytest.mark.slow
def test_a_tiny_model_fits_a_handful_of_pairs(fitted, pairs_dir):
    dataset = PairedFolderDataset(pairs_dir, 32)
    assert len(dataset) == 4 and dataset.info.input_channels == 1 and dataset.info.channels == 3
    torch.manual_seed(0)  # the run's initial weights
    initial = ganforge.models.build_generator(
        ganforge.config.resolve({"model.name": "pix2pix", "model.g_channels": 16}).model, dataset.info
    )
    before = _l1_to_targets(initial, dataset)
    after = _l1_to_targets(ganforge.load(fitted.checkpoint).module, dataset)
    assert after < before / 3, (before, after)
    assert (fitted.run_dir / "samples" / "final.png").exists()
    grid = np.asarray(Image.open(fitted.run_dir / "samples" / "final.png"))
    assert grid.shape[1] == 6 * 32 + 7 * 2  # rows of two (A, G(A), B) triplets


@pytest.mark.parametrize("size", [(37, 53), (32, 32), (70, 101), (5, 3)])
@pytest.mark.slow  # needs the fitted fixture (a short pix2pix training run)
def test_translate_returns_the_input_size(fitted, tmp_path, size):
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (*size, 3), dtype=np.uint8)).save(source)
    report = ganforge.translate(fitted.checkpoint, source, tmp_path / "out.png")
    out = Image.open(report.written[0])
    assert out.size == (size[1], size[0]) and out.mode == "RGB"


@pytest.mark.slow  # needs the fitted fixture (a short pix2pix training run)
def test_translate_folder_skips_unreadable(fitted, tmp_path, pairs_dir):
    folder = tmp_path / "sketches"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(
            (pairs_dir / "A" / sorted(p.name for p in (pairs_dir / "A").iterdir())[0]).read_bytes()
        )
    (folder / "bad.png").write_bytes(b"not a png")
    report = ganforge.translate(fitted.checkpoint, folder, tmp_path / "painted")
    assert sorted(p.name for p in report.written) == ["a.png", "b.png"] and len(report.failed) == 1
    result = CliRunner().invoke(
        main, ["translate", str(fitted.checkpoint), str(tmp_path / "nothing.png"), "--out", "x.png"]
    )
    assert result.exit_code == 1 and "nothing.png" in result.output


@pytest.mark.slow  # needs the fitted fixture (a short pix2pix training run)
def test_eval_on_held_out_pairs(fitted, pairs_dir):
    results = ganforge.evaluate(str(pairs_dir / "holdout"), fitted.checkpoint, "psnr,ssim,l1,fid", extractor="digits")
    assert results["num_pairs"] == 2
    assert 5 < results["psnr"] < 100 and -1 <= results["ssim"] <= 1 and 0 <= results["l1"] <= 2
    assert results["fid"] >= 0
    with pytest.raises(ConfigError, match="psnr, ssim, l1"):
        ganforge.evaluate(str(pairs_dir / "holdout"), fitted.checkpoint, "modes")


@pytest.mark.slow
def test_paired_and_unpaired_mismatches_are_clear(pairs_dir, tmp_path):
    with pytest.raises(ConfigError, match="paired data"):
        train(overrides={"model.name": "pix2pix", "data.source": "digits", "train.out": str(tmp_path)})
    with pytest.raises(ConfigError, match="image-to-image model"):
        train(overrides={"model.name": "dcgan", "data.source": "shapes-edges", "train.out": str(tmp_path)})
    digits_run = train(
        overrides={
            "data.source": "digits",
            "data.resolution": 16,
            "model.g_channels": 4,
            "model.d_channels": 4,
            "train.batch": 8,
            "train.total_kimg": 0.008,
            "train.out": str(tmp_path),
        },
        progress=False,
    )
    with pytest.raises(ConfigError, match="noise"):
        ganforge.translate(digits_run.checkpoint, pairs_dir / "A", tmp_path / "x")


@pytest.mark.slow  # needs the fitted fixture (a short pix2pix training run)
def test_sampling_an_image_to_image_model_is_a_clear_error(fitted, tmp_path):
    result = CliRunner().invoke(main, ["sample", str(fitted.checkpoint), "--grid", str(tmp_path / "g.png")])
    assert result.exit_code == 1 and "ganforge translate" in result.output


@pytest.mark.slow
def test_l1_term_weights_the_generator_loss(pairs_dir, tmp_path):
    """The G loss is the cGAN loss + lambda * L1: with lambda = 100 it is far above the lambda = 0 run's."""
    losses = {}
    for weight in (0.0, 100.0):
        result = train(
            overrides={
                "model.name": "pix2pix",
                "data.source": str(pairs_dir),
                "data.resolution": 32,
                "model.g_channels": 8,
                "model.d_channels": 8,
                "train.batch": 4,
                "train.total_kimg": 0.008,
                "loss.l1_weight": weight,
                "train.out": str(tmp_path / str(weight)),
            },
            progress=False,
        )
        losses[weight] = result.stats["loss_G"]
    # Identical first steps (same seed); L1 of an untrained U-Net to the targets is ~0.3-1 in [-1, 1] units.
    assert 10 < losses[100.0] - losses[0.0] < 200


@pytest.mark.slow
def test_resnet_generator_trains_and_reloads(pairs_dir, tmp_path):
    """--g-arch resnet_6blocks: pix2pix with Johnson et al.'s ResNet (the authors' --netG resnet_6blocks), the
    architecture imported CycleGAN generators take; a short run saves, reloads and translates."""
    settings = {
        "model.name": "pix2pix",
        "model.g_arch": "resnet_6blocks",
        "data.source": str(pairs_dir),
        "data.resolution": 32,
        "model.g_channels": 4,
        "model.d_channels": 8,
        "train.batch": 4,
        "train.total_kimg": 0.008,
        "train.snapshot_every_kimg": 1,
        "train.out": str(tmp_path),
    }
    result = train(overrides=settings, progress=False)
    generator = ganforge.load(result.checkpoint)
    assert type(generator.module).__name__ == "ResNetGenerator" and generator.model.g_arch == "resnet_6blocks"
    assert sum(1 for name, _ in generator.module.named_children()) == 1 and len(generator.module.net) == 6 + 19
    report = ganforge.translate(result.checkpoint, next((pairs_dir / "A").iterdir()), tmp_path / "out.png")
    assert Image.open(report.written[0]).size == (32, 32)
