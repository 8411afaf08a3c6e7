"""Random transforms of real images and of images that belong together: flips and pix2pix's jitter (Isola et al.
2017), and one augmentation draw replayed on an output image and its input image (paired discriminators)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def flip_and_jitter(images: Tensor, mirror: bool, jitter: bool) -> Tensor:
    """Random horizontal flips and pix2pix's 286/256 zoom-and-crop, per image ([N, C, H, W]; channels alike)."""
    count, _, height, width = images.shape
    if mirror:
        flip = torch.rand(count, 1, 1, 1, device=images.device) < 0.5
        images = torch.where(flip, images.flip(3), images)
    if jitter:
        big_h, big_w = round(height * 286 / 256), round(width * 286 / 256)
        enlarged = F.interpolate(images, size=(big_h, big_w), mode="bilinear", align_corners=False)
        tops = torch.randint(0, big_h - height + 1, (count,)).tolist()
        lefts = torch.randint(0, big_w - width + 1, (count,)).tolist()
        images = torch.stack([enlarged[i, :, t:t + height, l:l + width] for i, (t, l) in enumerate(zip(tops, lefts))])
    return images


def augment_alike(augment, images: Tensor, inputs: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """`augment` applied to `images` [N, C, H, W] and `inputs` [N, C_A, H, W] with the same random draw (the ops'
    draws depend on the batch size only, never on channels)."""
    if not augment.ops:
        return augment(images), inputs
    seed = int(torch.randint(0, 2**62, ()))
    devices = [device] if device.type == "cuda" else []
    outputs = []
    for tensor in (images, inputs):
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            outputs.append(augment(tensor))
    return outputs[0], outputs[1]
