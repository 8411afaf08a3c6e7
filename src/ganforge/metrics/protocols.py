"""Evaluation protocols: how the images reach the Inception network and how many are compared, as each reference
defines it, so that a ganforge FID can stand beside a published one.

  ganforge           the weight file's own preprocessing (inception.py): TorchScript weights as the TF graph does,
                     pytorch-fid's state dict as pytorch-fid does; --num generated vs at most --num real images.
  clean              clean-fid's mode "clean" (Parmar et al. 2022): each channel resized to 299 with PIL's bicubic
                     filter on float32 values (no quantisation after the resize), clipped to [0, 255], then
                     (x - 128) / 128 into the network.
  legacy-tensorflow  clean-fid's mode "legacy_tensorflow", the original TF FID code: TF1 bilinear resize to 299
                     (source = index * in/out, edges clamped) inside the network, then (x - 128) / 128.
  legacy-pytorch     clean-fid's mode "legacy_pytorch" and pytorch-fid: x / 255, F.interpolate bilinear
                     (align_corners=False) to 299, then 2x - 1.
  nvlabs             NVIDIA's fid50k_full (stylegan2-ada / stylegan3 metric_main.py): preprocessing as
                     legacy-tensorflow (their TorchScript detector resizes inside), 50,000 generated images against
                     the full dataset, real images not mirrored (fid50k_full sets xflip=False whatever training did).

In every protocol generated images are quantised to uint8 first (round((x + 1) * 127.5); NVIDIA's
floor(x * 127.5 + 128) differs only at exact halves), as saving them to PNG does; clean-fid's in-memory generator
path alone resizes unquantised floats, which is not reproduced. Grey images are repeated to 3 channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError

NVLABS_NUM_FAKE = 50_000  # fid50k_full


@dataclass(frozen=True)
class Protocol:
    name: str
    preprocessing: str | None  # inception.preprocess mode; None: the weight file's own
    resize_filter: str  # what resizes images to 299, for the report
    reference: str  # whose definition this is
    num_fake: int | None = None  # generated images the protocol fixes (None: --num)
    full_real: bool = False  # real statistics over the whole dataset, not a --num subset
    mirror: bool = False  # real images also mirrored (fid50k_full: never)

    def record(self) -> dict:
        """The protocol's settings, stored with every number computed under it."""
        return asdict(self)


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol(
            "ganforge",
            None,
            "the weight file's own (TorchScript: TF1 bilinear; pytorch-fid .pth: torch bilinear)",
            "ganforge",
        ),
        Protocol("clean", "clean", "PIL bicubic on float32, per channel, no quantisation", "clean-fid mode 'clean'"),
        Protocol(
            "legacy-tensorflow",
            "tf",
            "TF1 bilinear (index * in/out, edges clamped)",
            "clean-fid mode 'legacy_tensorflow' (TF FID)",
        ),
        Protocol(
            "legacy-pytorch",
            "pytorch-fid",
            "torch bilinear, align_corners=False",
            "clean-fid mode 'legacy_pytorch', pytorch-fid",
        ),
        Protocol(
            "nvlabs",
            "tf",
            "TF1 bilinear (index * in/out, edges clamped)",
            "NVIDIA stylegan2-ada/stylegan3 fid50k_full",
            num_fake=NVLABS_NUM_FAKE,
            full_real=True,
        ),
    )
}


def get_protocol(name: str) -> Protocol:
    """The protocol named `name`; ConfigError naming --protocol otherwise."""
    if name not in PROTOCOLS:
        raise ConfigError(f"--protocol: unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def pil_bicubic_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """float [N, C, H, W] in [0, 255] -> float [N, C, size, size]: each channel resized as a PIL float32 ('F') image
    with the bicubic filter, clipped to [0, 255] (clean-fid's resizer in mode "clean")."""
    out = np.empty((*images.shape[:2], size, size), dtype=np.float32)
    for index, channels in enumerate(images.cpu().numpy().astype(np.float32)):
        for channel, plane in enumerate(channels):
            resized = Image.fromarray(plane).resize((size, size), resample=Image.BICUBIC)
            out[index, channel] = np.asarray(resized)
    return torch.from_numpy(out.clip(0, 255)).to(images.device)
