"""DINOv2 extractor: parity with transformers' Dinov2Model at the same random weights, the weight files it reads,
DINOv2's position-embedding interpolation and dgm-eval's preprocessing, and fd_dinov2 / precision-recall-density-
coverage / --best-by plumbing with small random-weight networks (no download, no real weights)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.errors import ConfigError, DataError
from ganforge.metrics import dinov2
from ganforge.metrics.dinov2 import ARCHITECTURES, DinoViT, ViTSpec, load_dinov2, load_state, preprocess

from ..conftest import write_image

TINY_SPEC = ViTSpec("ViT-tiny/14", width=32, depth=2, heads=2, grid=6)  # grid 6: 224 px inputs interpolate to 16


def random_net(spec: ViTSpec, seed: int = 0) -> DinoViT:
    """A DinoViT with every tensor random (LayerScale and norms included, so a wrong mapping shows)."""
    torch.manual_seed(seed)
    net = DinoViT(spec).eval()
    with torch.no_grad():
        for name, value in net.named_parameters():
            value.copy_(torch.randn_like(value) * (0.2 if "weight" in name and value.ndim > 1 else 0.5))
    return net


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """Both registered architectures shrunk to TINY_SPEC, with random facebookresearch-style weights in a file given
    by their environment variables; the stats cache in tmp_path. Returns {arch: weight file}."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    files = {}
    for seed, arch in enumerate(("vitb14", "vitl14")):
        monkeypatch.setitem(ARCHITECTURES, arch, TINY_SPEC)
        state = random_net(TINY_SPEC, seed).state_dict() | {"mask_token": torch.zeros(1, TINY_SPEC.width)}
        files[arch] = tmp_path / dinov2.weights_file(arch)
        torch.save(state, files[arch])
        monkeypatch.setenv(dinov2.env_var(arch), str(files[arch]))
    return files


# ---- the network ----------------------------------------------------------------------------------------------------
def _transformers_model(grid: int):
    transformers = pytest.importorskip("transformers")
    config = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        image_size=grid * 14,
        patch_size=14,
    )
    torch.manual_seed(1)
    model = transformers.Dinov2Model(config).eval()
    with torch.no_grad():
        for value in model.parameters():
            value.add_(torch.randn_like(value) * 0.3)
    return model


@pytest.mark.slow  # importing transformers takes seconds
def test_matches_transformers_dinov2_at_the_same_random_weights():
    """Our ViT with transformers' weights renamed (v5 module names) gives its pooled class token, 224 px input."""
    model = _transformers_model(grid=16)  # 224 / 14: no position interpolation (transformers interpolates otherwise)
    net = DinoViT(ViTSpec("tiny", width=32, depth=2, heads=2, grid=16)).eval()
    load_state(net, dinov2.from_transformers(model.state_dict()), "transformers")
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        ours, theirs = net(x), model(pixel_values=x).pooler_output
    assert ours.abs().max() > 0.1
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # importing transformers takes seconds
def test_reads_transformers_weight_files(tmp_path, monkeypatch):
    """A Dinov2Model saved by transformers (hub names: attention.attention.query, ...) loads as an extractor."""
    model = _transformers_model(grid=16)
    model.save_pretrained(tmp_path / "hf")
    monkeypatch.setitem(ARCHITECTURES, "vitb14", ViTSpec("tiny", width=32, depth=2, heads=2, grid=16))
    extractor = load_dinov2("vitb14", tmp_path / "hf" / "model.safetensors")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    features, logits = extractor(images)
    with torch.no_grad():
        expected = model(pixel_values=preprocess(images)).pooler_output
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    assert logits is None and features.shape == (2, 32)


def _cubic_convolution(values: list[float], source: float, a: float = -0.75) -> float:
    """Keys' cubic convolution (PyTorch's bicubic, a = -0.75) of `values` at coordinate `source`, edges clamped."""

    def weight(x: float) -> float:
        x = abs(x)
        return (a + 2) * x**3 - (a + 3) * x**2 + 1 if x <= 1 else a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a

    base = int(np.floor(source))
    return sum(weight(source - i) * values[min(max(i, 0), len(values) - 1)] for i in range(base - 1, base + 3))


def test_position_embeddings_use_dinov2s_offset_interpolation():
    """A ramp over a 6-wide pretraining grid read on a 4-wide grid is sampled where DINOv2 samples it: at source
    coordinates (j + 0.5) * 6 / (4 + 0.1) - 0.5 (its +0.1 offset), not a plain resize's (j + 0.5) * 6 / 4 - 0.5."""
    net = DinoViT(ViTSpec("ramp", width=1, depth=0, heads=1, grid=6))
    ramp = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    with torch.no_grad():
        net.pos_embed.copy_(torch.cat([torch.zeros(1, 1, 1), torch.tensor(ramp).repeat(6).view(1, 36, 1)], dim=1))
    table = net.positions(4)[0, 1:, 0].view(4, 4)  # [row, column]
    dinov2_grid = [_cubic_convolution(ramp, (j + 0.5) * 6 / 4.1 - 0.5) for j in range(4)]
    plain_grid = [_cubic_convolution(ramp, (j + 0.5) * 6 / 4 - 0.5) for j in range(4)]
    torch.testing.assert_close(table, torch.tensor(dinov2_grid).expand(4, 4), rtol=0, atol=1e-4)
    assert max(abs(d - p) for d, p in zip(dinov2_grid, plain_grid)) > 0.05
    assert net.positions(6) is net.pos_embed  # the pretraining grid itself: no interpolation


def test_preprocessing_is_dgm_evals():
    """RGB at 224 by PIL bicubic, /255, ImageNet mean/std; grey images as three equal channels."""
    rng = np.random.default_rng(0)
    rgb = torch.from_numpy(rng.integers(0, 256, (2, 3, 20, 20), dtype=np.uint8))
    x = preprocess(rgb)
    assert x.shape == (2, 3, 224, 224)
    resized = np.asarray(Image.fromarray(rgb[1].permute(1, 2, 0).numpy()).resize((224, 224), Image.BICUBIC))
    expected = (resized[100, 50] / 255 - np.array(dinov2.IMAGENET_MEAN)) / np.array(dinov2.IMAGENET_STD)
    np.testing.assert_allclose(x[1, :, 100, 50].numpy(), expected, rtol=1e-5)
    grey = rgb[:, :1]
    torch.testing.assert_close(preprocess(grey), preprocess(grey.expand(-1, 3, -1, -1)))


def test_facebookresearch_files_load_and_bad_files_are_named(tmp_path, tiny_weights):
    extractor = load_dinov2("vitb14")  # from $GANFORGE_DINOV2_VITB14
    digest = hashlib.sha256(tiny_weights["vitb14"].read_bytes()).hexdigest()
    assert extractor.weights_sha256 == digest and digest[:12] in extractor.description
    assert extractor.dim == 32 and extractor.family == "dinov2" and extractor.manifold_k == 5
    broken = tmp_path / "broken.pth"
    torch.save({k: v for k, v in torch.load(tiny_weights["vitb14"]).items() if "blocks.1." not in k}, broken)
    with pytest.raises(DataError, match="broken.pth is not a DINOv2 .*missing"):
        load_dinov2("vitb14", broken)
    with pytest.raises(DataError, match="nowhere.pth"):
        load_dinov2("vitb14", tmp_path / "nowhere.pth")


# ---- metrics and training -------------------------------------------------------------------------------------------
@pytest.fixture
def image_folder(tmp_path):
    for i in range(12):
        write_image(tmp_path / "images" / f"{i}.png", "RGB", (16, 16), seed=i)
    return tmp_path / "images"


def test_fd_dinov2_and_manifold_metrics_on_dinov2_features(tiny_weights, image_folder):
    from ganforge.metrics import evaluate

    results = evaluate(str(image_folder), image_folder, "fd_dinov2,pr,dc", num=12, batch_size=5)
    assert results["extractor_name"] == "dinov2"  # fd_dinov2 with no --extractor: dinov2 (ViT-L/14)
    assert results["weights_sha256"] == hashlib.sha256(tiny_weights["vitl14"].read_bytes()).hexdigest()
    assert abs(results["fd_dinov2"]) < 1e-6  # the same images on both sides
    assert results["precision"] == results["recall"] == results["coverage"] == 1.0
    assert results["density"] > 0
    named = evaluate(str(image_folder), image_folder, "fd_dinov2", extractor="dinov2-vitb14", num=12)
    assert named["extractor_name"] == "dinov2-vitb14" and named["weights_sha256"] != results["weights_sha256"]


def test_default_extractor_for_fd_dinov2_is_vitl_for_eval_and_vitb_in_training():
    from ganforge.metrics import default_extractor

    assert default_extractor("shapes", "pr,fd_dinov2") == "dinov2"
    assert default_extractor("digits", ("fd_dinov2",), training=True) == "dinov2-vitb14"
    assert default_extractor("digits", "fid,pr", training=True) == "digits"
    assert default_extractor("shapes") == "inception"


def test_fd_dinov2_refuses_other_extractors(tiny_weights, image_folder):
    from ganforge.metrics import evaluate

    with pytest.raises(ConfigError, match="--metrics fd_dinov2: .*not DINOv2.*--extractor dinov2"):
        evaluate(str(image_folder), image_folder, "fd_dinov2", extractor="digits", num=12)


@pytest.mark.slow  # a short training run
def test_best_checkpoint_follows_best_by(tiny_weights, tiny):
    from ganforge import train
    from ganforge.artifacts import checkpoint as ckpt

    result = train(
        overrides={
            **tiny,
            "train.metrics_every_kimg": 0.048,
            "train.metrics": "fd_dinov2,pr",
            "train.metrics_num": 12,
            "train.best_by": "recall",
        },
        progress=False,
    )
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all("fd_dinov2" in row and "recall" in row for row in rows)
    best = ckpt.load(result.run_dir / "best.pt")["best"]
    assert best == {"key": "recall", "value": max(row["recall"] for row in rows)}


@pytest.mark.parametrize(
    "metrics, best_by, every, message",
    [
        ("fd_dinov2", "kid", 1.0, "--best-by kid: metric 'kid' is not computed during training"),
        ("fd_dinov2", "density", 1.0, "--best-by density: not a result with a better direction"),
        ("fd_dinov2", "fd_dinov2", 0.0, "--best-by fd_dinov2: .*--metrics-every-kimg"),
    ],
)
def test_best_by_names_a_metric_that_is_not_computed(tiny_weights, tiny, metrics, best_by, every, message):
    from ganforge import train

    with pytest.raises(ConfigError, match=message):
        train(
            overrides={**tiny, "train.metrics_every_kimg": every, "train.metrics": metrics, "train.best_by": best_by},
            dry_run=True,
        )


@pytest.mark.slow  # resumes a short training run
def test_a_checkpoint_from_before_best_by_keeps_its_best_fid(tmp_path):
    """Checkpoints that stored `best_fid` resume with best.pt following fid from that value."""
    from ganforge import train
    from ganforge.artifacts import checkpoint as ckpt

    state = torch.load(Path(__file__).parents[1] / "data" / "dcgan16-v1.pt", weights_only=True) | {"best_fid": 3.5}
    run = tmp_path / "runs" / "00000-old"
    run.mkdir(parents=True)
    torch.save(state, run / "checkpoint-00000002.pt")
    result = train(
        resume=run, overrides={"train.total_kimg": 0.064, "train.out": str(tmp_path / "runs")}, progress=False
    )
    assert ckpt.load(result.checkpoint)["best"] == {"key": "fid", "value": 3.5}
