"""LPIPS (AlexNet, v0.1): the trunk's layout vs torchvision's AlexNet weight file, the distance's properties with a
random trunk (and the real heads when the `lpips` package is installed), weight sources and their errors, and
`--metrics lpips` in paired evaluation. No network: downloads are file:// URLs or blocked."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

from ganforge.artifacts import LoadedGenerator
from ganforge.config import DataConfig, resolve
from ganforge.data import build
from ganforge.errors import ConfigError, DataError
from ganforge.families import Task
from ganforge.metrics import lpips as lpips_module
from ganforge.metrics.evaluate import evaluate_pairs
from ganforge.metrics.lpips import LPIPS, AlexNetFeatures, load_lpips, lpips

from ..conftest import write_image

PACKAGE_HEADS = lpips_module._package_heads()  # found by spec, never imported
needs_package = pytest.mark.skipif(PACKAGE_HEADS is None, reason="the lpips package is not installed")

# torchvision's AlexNet `features` tensors, as in alexnet-owt-7be5be79.pth (which adds classifier.{1,4,6}.*)
TRUNK_SHAPES = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
}
HEAD_SHAPES = {f"lin{index}.model.1.weight": (1, c, 1, 1) for index, c in enumerate((64, 192, 384, 256, 256))}
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
URLOPEN = urllib.request.urlopen


@pytest.fixture(scope="module")
def trunk_file(tmp_path_factory):
    """A torchvision-layout AlexNet state dict with random weights (biases > 0 keep the ReLUs alive), its SHA-256."""
    torch.manual_seed(0)
    trunk = AlexNetFeatures()
    for layer in trunk.features:
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.bias, 0.05, 0.05)
    path = tmp_path_factory.mktemp("trunk") / "random_alexnet.pth"
    torch.save({**trunk.state_dict(), "classifier.6.weight": torch.zeros(10, 4)}, path)  # classifier: ignored
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def heads_file(tmp_path_factory):
    """The real v0.1 heads from the lpips package when installed, else random non-negative ones."""
    if PACKAGE_HEADS is not None:
        return PACKAGE_HEADS
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("heads") / "alex.pth"
    torch.save({name: torch.rand(shape) for name, shape in HEAD_SHAPES.items()}, path)
    return path


@pytest.fixture(scope="module")
def net(trunk_file, heads_file) -> LPIPS:
    return load_lpips(trunk_file[0], heads_file)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty cache, no weight variables, no lpips package, only file:// downloads; returns the cache folder."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_ALEXNET", raising=False)
    monkeypatch.delenv("GANFORGE_LPIPS_HEADS", raising=False)
    monkeypatch.setattr(lpips_module, "_package_heads", lambda: None)

    def file_urls_only(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise urllib.error.URLError("offline (test)")
        return URLOPEN(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", file_urls_only)
    return tmp_path / "cache" / "lpips"


def _noisy(images: torch.Tensor, noise: torch.Tensor, strength: float) -> torch.Tensor:
    return (images.float() + strength * noise).round().clamp(0, 255).to(torch.uint8)


def test_trunk_matches_torchvision_alexnet_features():
    state = AlexNetFeatures().state_dict()
    assert {name: tuple(value.shape) for name, value in state.items()} == TRUNK_SHAPES
    taps = AlexNetFeatures()(torch.rand(1, 3, 256, 256))
    assert [tuple(t.shape[1:]) for t in taps] == [
        (64, 63, 63),
        (192, 31, 31),
        (384, 15, 15),
        (256, 15, 15),
        (256, 15, 15),
    ]
    assert all((t >= 0).all() for t in taps)  # ReLU outputs


@needs_package
def test_package_heads_file_layout():
    assert PACKAGE_HEADS.parts[-4:] == ("lpips", "weights", "v0.1", "alex.pth")
    heads = torch.load(PACKAGE_HEADS, map_location="cpu", weights_only=True)
    assert {name: tuple(value.shape) for name, value in heads.items()} == HEAD_SHAPES
    assert all((value >= 0).all() and value.max() > 0 for value in heads.values())


def test_loaded_weights(net, trunk_file, heads_file):
    saved = torch.load(trunk_file[0], weights_only=True)
    assert torch.equal(net.trunk.features[10].weight, saved["features.10.weight"])
    heads = torch.load(heads_file, map_location="cpu", weights_only=True)  # the package saved CUDA tensors
    assert all(torch.equal(net.heads[i], heads[f"lin{i}.model.1.weight"]) for i in range(5))


@pytest.mark.slow
def test_distance_properties(net):
    torch.manual_seed(2)
    images = torch.randint(0, 256, (4, 3, 48, 40), dtype=torch.uint8)
    noise = torch.randn(images.shape)
    assert lpips(images, images, net) == 0
    other = _noisy(images, noise, 40)
    assert lpips(images, other, net) == pytest.approx(lpips(other, images, net), rel=1e-6)
    distances = [lpips(images, _noisy(images, noise, s), net) for s in (4, 16, 64, 128)]
    assert distances == sorted(distances) and distances[0] > 0, distances
    with torch.inference_mode():
        batched = net(images.float() / 127.5 - 1, other.float() / 127.5 - 1)
        single = torch.cat(
            [net(images[i : i + 1].float() / 127.5 - 1, other[i : i + 1].float() / 127.5 - 1) for i in range(4)]
        )
    assert torch.allclose(batched, single, rtol=1e-5, atol=1e-7)
    assert lpips(images, other, net, batch_size=3) == pytest.approx(float(batched.double().mean()), rel=1e-6)


def test_grey_images_are_repeated_to_rgb(net):
    torch.manual_seed(3)
    grey, other = torch.randint(0, 256, (2, 2, 1, 32, 32), dtype=torch.uint8)
    assert lpips(grey, other, net) == lpips(grey.repeat(1, 3, 1, 1), other.repeat(1, 3, 1, 1), net)


def test_bad_inputs_are_rejected(net):
    small = torch.zeros(1, 3, 30, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 31 x 31"):
        lpips(small, small, net)
    with pytest.raises(ValueError, match="one shape"):
        lpips(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 3, 32, 33, dtype=torch.uint8), net)


def test_missing_trunk_explains_both_files(offline, heads_file, monkeypatch):
    monkeypatch.setenv("GANFORGE_LPIPS_HEADS", str(heads_file))
    with pytest.raises(DataError) as error:
        load_lpips()
    message = str(error.value)
    assert "GANFORGE_ALEXNET" in message and ALEXNET_URL in message
    assert str(offline / "alexnet-owt-7be5be79.pth") in message
    assert "GANFORGE_LPIPS_HEADS" in message and "pip install --no-deps lpips" in message


def test_missing_heads_fail_before_any_download(offline, monkeypatch):
    monkeypatch.setattr(lpips_module, "fetch", lambda *args, **kwargs: pytest.fail("downloaded"))
    with pytest.raises(DataError, match="linear heads were not found(.|\n)*GANFORGE_LPIPS_HEADS"):
        lpips_module.locate_weights()


def test_download_into_cache_with_prefix_check(offline, trunk_file, heads_file, monkeypatch):
    path, sha256 = trunk_file
    monkeypatch.setattr(lpips_module, "ALEXNET_URLS", [path.as_uri()])
    monkeypatch.setattr(lpips_module, "ALEXNET_SHA256_PREFIX", sha256[:8])
    cached = offline / "alexnet-owt-7be5be79.pth"
    assert lpips_module.locate_weights(heads=heads_file) == (cached, heads_file) and cached.is_file()
    monkeypatch.setattr(lpips_module, "ALEXNET_URLS", [])  # now served from the cache
    saved = torch.load(path, weights_only=True)
    assert torch.equal(load_lpips(heads=heads_file).trunk.features[0].bias, saved["features.0.bias"])


def test_download_with_wrong_hash_keeps_nothing(offline, tmp_path, heads_file, monkeypatch):
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not the alexnet weights")
    monkeypatch.setattr(lpips_module, "ALEXNET_URLS", [bogus.as_uri()])
    with pytest.raises(DataError, match="sha256.*expected 7be5be79"):
        lpips_module.locate_weights(heads=heads_file)
    assert not offline.exists() or not any(offline.iterdir())


def test_bad_paths_and_files_are_named(offline, tmp_path, trunk_file, heads_file, monkeypatch):
    monkeypatch.setenv("GANFORGE_ALEXNET", str(tmp_path / "nope.pth"))
    with pytest.raises(DataError, match=r"nope\.pth.*GANFORGE_ALEXNET"):
        lpips_module.locate_weights(heads=heads_file)
    with pytest.raises(DataError, match=r"given\.pth.*path given"):
        load_lpips(trunk_file[0], tmp_path / "given.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(DataError, match="cannot read torchvision AlexNet weights"):
        load_lpips(tmp_path / "text.pth", heads_file)
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "partial.pth")
    with pytest.raises(DataError, match="not LPIPS v0.1 AlexNet heads: it lacks"):
        load_lpips(trunk_file[0], tmp_path / "partial.pth")
    torch.save({name: torch.zeros(1, 3, 1, 1) for name in HEAD_SHAPES}, tmp_path / "shapes.pth")
    with pytest.raises(DataError, match=r"lin0.model.1.weight \(1, 3, 1, 1\) \(want \(1, 64, 1, 1\)\)"):
        load_lpips(trunk_file[0], tmp_path / "shapes.pth")


@pytest.fixture
def model_and_pairs(tmp_path):
    """A 1 -> 3 channel stand-in for a pix2pix generator (a 1x1 conv) and a folder of 3 held-out pairs."""
    for index in range(3):
        write_image(tmp_path / "pairs" / "A" / f"{index}.png", "L", (32, 32), seed=index)
        write_image(tmp_path / "pairs" / "B" / f"{index}.png", "RGB", (32, 32), seed=10 + index)
    torch.manual_seed(4)
    info = build(DataConfig(source=str(tmp_path / "pairs"), resolution=32), task=Task.PAIRED).info
    generator = LoadedGenerator(
        nn.Conv2d(1, 3, 1), resolve({"model.name": "pix2pix"}).model, info, 0, 0.0, {}, "stand-in"
    )
    return generator, str(tmp_path / "pairs")


def test_eval_pairs_lpips_only_when_asked(offline, model_and_pairs, trunk_file, heads_file, monkeypatch):
    generator, pairs = model_and_pairs
    missing = evaluate_pairs(pairs, generator, ("psnr", "lpips"), "digits", 3, 2, "cpu")  # the others still run
    assert "psnr" in missing and "lpips" not in missing and "GANFORGE_ALEXNET" in missing["not_computed"]["lpips"]
    with pytest.raises(ConfigError, match=r"--metrics lpips: LPIPS weights unavailable(.|\n)*GANFORGE_ALEXNET"):
        evaluate_pairs(pairs, generator, ("lpips",), "digits", 3, 2, "cpu")
    assert set(evaluate_pairs(pairs, generator, ("psnr", "ssim"), "digits", 3, 2, "cpu")) == {
        "num_pairs",
        "psnr",
        "ssim",
        "psnr_input",
        "ssim_input",
    }
    monkeypatch.setenv("GANFORGE_ALEXNET", str(trunk_file[0]))
    monkeypatch.setenv("GANFORGE_LPIPS_HEADS", str(heads_file))
    results = evaluate_pairs(pairs, generator, ("psnr", "lpips"), "digits", 3, 2, "cpu")
    assert results["num_pairs"] == 3 and 0 < results["lpips"] < 10
