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
        tops = torch.randint(0, big_h - height + 1, (count,)).to(images.device, non_blocking=True)
        lefts = torch.randint(0, big_w - width + 1, (count,)).to(images.device, non_blocking=True)
        images = crop(enlarged, tops, lefts, height, width)
    return images


def crop(images: Tensor, tops: Tensor, lefts: Tensor, height: int, width: int) -> Tensor:
    """[N, C, H, W] -> [N, C, height, width]: image i from row tops[i], column lefts[i] ([N] on the images' device;
    gathers, so the offsets are never read on the host)."""
    count, channels, _, big_w = images.shape
    rows = tops[:, None] + torch.arange(height, device=images.device)  # [N, height]
    cols = lefts[:, None] + torch.arange(width, device=images.device)  # [N, width]
    images = images.gather(2, rows[:, None, :, None].expand(count, channels, height, big_w))
    return images.gather(3, cols[:, None, None, :].expand(count, channels, height, width))


def augment_alike(augment, images: Tensor, inputs: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """`augment` applied to `images` [N, C, H, W] and `inputs` [N, C_A, H, W] with the same random draw (the ops'
    draws depend on the batch size only, never on channels): the device generator's state is rewound between the
    two, which then both leave it where one draw would (no seed read on the host)."""
    if not augment.ops:
        return augment(images), inputs
    rng = {"cuda": torch.cuda, "mps": torch.mps}.get(device.type, torch)  # the module owning the device's generator
    kwargs = {"device": device} if device.type == "cuda" else {}
    state = rng.get_rng_state(**kwargs)
    augmented = augment(images)
    rng.set_rng_state(state, **kwargs)
    return augmented, augment(inputs)
