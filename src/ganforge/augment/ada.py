"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"): a differentiable pipeline of pixel-blitting, geometric, colour and cutout ops applied to every image
D sees, each op per image with probability p, and a controller that tunes p from the sign of D's outputs on reals.

Written in pure PyTorch from the paper. Every draw comes from torch's global RNG on the images' device, which the
training loop seeds per step, so resumed runs are exact. The draws depend on the batch size and the op set only,
never on the channel count, so a paired loop can replay them (same seed) on a condition image with other channels.
Images are square, [N, C, S, S] with S a power of two >= 8, in [-1, 1] (contrast scales about 0, cutout fills 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
BLIT = ("xflip", "rotate90", "xint")
GEOMETRIC = ("scale", "rotate", "aniso", "xfrac")
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ALL_OPS = BLIT + GEOMETRIC + COLOUR + ("cutout",)
DEFAULT_OPS = BLIT + GEOMETRIC + COLOUR  # NVlabs' 'bgc' pipeline, their recommended default; cutout only if asked
XINT_MAX = 0.125  # integer translation, up to this fraction of the size
SCALE_STD = 0.2  # isotropic and anisotropic scaling, log2 std
XFRAC_STD = 0.125  # fractional translation std, in image sizes
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2 std
SATURATION_STD = 1.0  # log2 std
CUTOUT_SIZE = 0.5  # side of the cut square, in image sizes


# ---- the ops, with explicit parameters ----------------------------------------------------------------------------
def _reflect(index: Tensor, size: int) -> Tensor:
    """Pixel indices mirrored back into [0, size) about the border (edge pixel repeated, like grid_sample)."""
    return torch.where(index < 0, -1 - index, torch.where(index >= size, 2 * size - 1 - index, index))


def blit(x: Tensor, flip: Tensor, turns: Tensor, shift: Tensor) -> Tensor:
    """Exact pixel moves per image: mirror left-right where `flip` [N] (bool), then rotate `turns` [N] quarter turns
    (as torch.rot90 over dims (2, 3)), then move by `shift` [N, 2] whole pixels (down, right), reflecting at the border.
    One gather; reflecting before undoing the turns and flip is the same, as they map the square onto itself."""
    n, c, s, _ = x.shape
    pixels = torch.arange(s, device=x.device)
    rows = _reflect(pixels - shift[:, :1], s)  # [N, S]: source row of each output row, before turns and flip
    cols = _reflect(pixels - shift[:, 1:], s)  # [N, S]
    cos = (turns == 0).long() - (turns == 2).long()  # [N]
    sin = (turns == 1).long() - (turns == 3).long()
    mirror = 1 - 2 * flip.long()
    # Source (row, col) = (sin * col + cos * row, mirror * (cos * col - sin * row)) about the centre; as offsets:
    col_of_col, col_of_row, row_of_col, row_of_row = mirror * cos, -mirror * sin, sin, cos
    offset = (s - 1) * (s * (1 - row_of_col - row_of_row) + 1 - col_of_col - col_of_row) // 2
    index = (
        ((row_of_row * s + col_of_row)[:, None] * rows)[:, :, None]
        + ((row_of_col * s + col_of_col)[:, None] * cols)[:, None, :]
        + offset[:, None, None]
    )  # [N, S, S]
    return x.reshape(n, c, s * s).gather(2, index.reshape(n, 1, s * s).expand(n, c, s * s)).reshape(n, c, s, s)


def warp(x: Tensor, theta: Tensor) -> Tensor:
    """Resample each image once through its affine map `theta` [N, 2, 3] (output -> input, normalised coordinates),
    bilinear with reflection padding."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def recolour(x: Tensor, matrix: Tensor) -> Tensor:
    """Apply a homogeneous colour matrix [N, C+1, C+1] per image: out = M[:C, :C] @ pixel + M[:C, C]."""
    c = x.shape[1]
    matrix = matrix.to(x.dtype)
    return torch.einsum("nij,njhw->nihw", matrix[:, :c, :c], x) + matrix[:, :c, c, None, None]


def erase(x: Tensor, centre: Tensor, size: Tensor) -> Tensor:
    """Zero a square of side `size` [N] (image sizes; 0 cuts nothing) centred at `centre` [N, 2] ((y, x) in [0, 1])."""
    _, _, h, w = x.shape
    ys = (torch.arange(h, device=x.device) + 0.5) / h
    xs = (torch.arange(w, device=x.device) + 0.5) / w
    half = size[:, None] / 2
    outside_y = (ys[None, :] - centre[:, :1]).abs() >= half  # [N, H]
    outside_x = (xs[None, :] - centre[:, 1:]).abs() >= half  # [N, W]
    keep = outside_y[:, :, None] | outside_x[:, None, :]  # [N, H, W]
    return x * keep[:, None].to(x.dtype)


# ---- homogeneous matrices from per-image parameters [N] --------------------------------------------------------
def _matrix(rows: list[list[Tensor]]) -> Tensor:
    """[N, R, R] from R rows of R tensors [N]."""
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def _scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    one, zero = torch.ones_like(sx), torch.zeros_like(sx)
    return _matrix([[sx, zero, zero], [zero, sy, zero], [zero, zero, one]])


def _rotate2d(angle: Tensor) -> Tensor:
    one, zero, cos, sin = torch.ones_like(angle), torch.zeros_like(angle), angle.cos(), angle.sin()
    return _matrix([[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]])


def _translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    return _matrix([[one, zero, tx], [zero, one, ty], [zero, zero, one]])


def _embed(linear: Tensor) -> Tensor:
    """[N, 3, 3] linear colour map -> [N, 4, 4] homogeneous."""
    return F.pad(linear, (0, 1, 0, 1)) + F.pad(torch.ones(1, 1, 1, device=linear.device), (3, 0, 3, 0))


class AdaptivePipeline:
    """ADA's pipeline: blit, then one affine resample, then one colour matrix, then cutout; each op per image with
    probability p. `ops` picks a subset of ALL_OPS (default: the paper's 'bgc'; add "cutout" to ask for it).

    Colour ops on RGB: brightness and contrast act on each channel alike, but luma flip, hue rotation and
    saturation mix the channels, so data whose channels carry separate meaning (stacked digits, medical or
    multispectral channels) is shown to D with values moved between channels."""

    def __init__(self, ops: tuple[str, ...] = DEFAULT_OPS):
        unknown = [op for op in ops if op not in ALL_OPS]
        if unknown:
            raise ValueError(f"unknown ADA op {unknown[0]!r}; choose from {', '.join(ALL_OPS)}")
        self.ops = tuple(op for op in ALL_OPS if op in ops)  # canonical order

    def __call__(self, images: Tensor, p: float | Tensor) -> Tensor:
        """Augmented images [N, C, S, S], same dtype. `p` a float: the input itself when p == 0 (no draws either).
        `p` a 0-d tensor on the images' device (the controller's, never read on the host): the draws are always made;
        the output equals the float path's for p > 0 and is the input, bit for bit, for p == 0."""
        if not self.ops or (not isinstance(p, Tensor) and p <= 0):
            return images
        n, _, h, w = images.shape
        if h != w:
            raise ValueError(f"ADA needs square images, got {h}x{w}")
        x = images
        if any(op in self.ops for op in BLIT):
            x = self._blit(x, p)
        if any(op in self.ops for op in GEOMETRIC):
            x = warp(x, self._geometric(n, p, x.device))
        if any(op in self.ops for op in COLOUR):
            x = recolour(x, self._colour(n, x.shape[1], p, x.device))
        if "cutout" in self.ops:
            size = self._gate(torch.full((n,), CUTOUT_SIZE, device=x.device), 0.0, p, "cutout")
            x = erase(x, torch.rand(n, 2, device=x.device), size)
        if isinstance(p, Tensor):  # p == 0: the input, bit for bit, as a host p of 0 returns it
            x = torch.where(p > 0, x, images)
        return x

    def _gate(self, value: Tensor, identity: float, p: float | Tensor, op: str) -> Tensor:
        """`value` [N, ...] for the images whose uniform draw is < p (never if `op` is off), else `identity`."""
        chosen = torch.rand(value.shape[0], device=value.device) < (p if op in self.ops else 0.0)
        return torch.where(chosen.reshape(-1, *[1] * (value.dim() - 1)), value, identity)

    def _blit(self, x: Tensor, p: float | Tensor) -> Tensor:
        n, device = x.shape[0], x.device
        flip = self._gate(torch.randint(0, 2, (n,), device=device), 0, p, "xflip").bool()
        turns = self._gate(torch.randint(0, 4, (n,), device=device), 0, p, "rotate90")
        most = max(1, round(x.shape[-1] * XINT_MAX))
        shift = self._gate(torch.randint(-most, most + 1, (n, 2), device=device), 0, p, "xint")
        return blit(x, flip, turns, shift)

    def _geometric(self, n: int, p: float | Tensor, device: torch.device) -> Tensor:
        """theta [N, 2, 3]: isotropic scale, rotation, anisotropic scale, rotation, fractional translation."""
        scale = self._gate(torch.exp2(torch.randn(n, device=device) * SCALE_STD), 1.0, p, "scale")
        # two rotations, so that P(either) = p
        p_rot = 1 - (1 - p).clamp(min=0).sqrt() if isinstance(p, Tensor) else 1 - math.sqrt(max(1 - p, 0.0))
        angle_pre = self._gate((torch.rand(n, device=device) * 2 - 1) * math.pi, 0.0, p_rot, "rotate")
        aniso = self._gate(torch.exp2(torch.randn(n, device=device) * SCALE_STD), 1.0, p, "aniso")
        angle_post = self._gate((torch.rand(n, device=device) * 2 - 1) * math.pi, 0.0, p_rot, "rotate")
        shift = self._gate(torch.randn(n, 2, device=device) * XFRAC_STD * 2, 0.0, p, "xfrac")  # x2: [-1, 1] coordinates
        matrix = (
            _translate2d(shift[:, 0], shift[:, 1])
            @ _rotate2d(angle_post)
            @ _scale2d(aniso, 1 / aniso)
            @ _rotate2d(angle_pre)
            @ _scale2d(scale, scale)
        )
        return matrix[:, :2]

    def _colour(self, n: int, channels: int, p: float | Tensor, device: torch.device) -> Tensor:
        """[N, C+1, C+1]: brightness and contrast for any C; luma flip, hue and saturation too for RGB.
        All parameters are drawn whatever C is, so the draws do not depend on it."""
        brightness = self._gate(torch.randn(n, device=device) * BRIGHTNESS_STD, 0.0, p, "brightness")
        contrast = self._gate(torch.exp2(torch.randn(n, device=device) * CONTRAST_STD), 1.0, p, "contrast")
        flip = self._gate(torch.randint(0, 2, (n,), device=device).float(), 0.0, p, "lumaflip")
        hue = self._gate((torch.rand(n, device=device) * 2 - 1) * math.pi, 0.0, p, "hue")
        saturation = self._gate(torch.exp2(torch.randn(n, device=device) * SATURATION_STD), 1.0, p, "saturation")
        eye = torch.eye(channels + 1, device=device).expand(n, -1, -1)
        offset = F.pad(brightness[:, None, None].expand(n, channels, 1), (channels, 0, 0, 1))  # last column
        matrix = (eye + offset) * F.pad(contrast[:, None, None].expand(n, channels, 1), (0, 0, 0, 1), value=1.0)
        if channels != 3:
            return matrix
        axis = torch.full((3,), 1 / math.sqrt(3), device=device)  # the luma axis
        along = torch.outer(axis, axis)  # projection onto it
        cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=device) / math.sqrt(3)  # axis x (.)
        eye3, cos, sin = torch.eye(3, device=device), hue.cos()[:, None, None], hue.sin()[:, None, None]
        luma_flip = eye3 - 2 * along * flip[:, None, None]
        rotate = cos * eye3 + sin * cross + (1 - cos) * along  # Rodrigues, about the luma axis
        saturate = along + (eye3 - along) * saturation[:, None, None]
        return _embed(saturate @ rotate @ luma_flip) @ matrix


class AdaptiveAugment:
    """The ADA controller: holds p and applies the pipeline with it; p follows the overfitting heuristic
    r_t = E[sign(D(real))], rising while r_t > target and falling while below, by up to 1 per `speed_kimg` kimg.

    p lives on the training device (`p_device`, float64 where the device has it, so its steps add up exactly as on
    the host) and is only read there when asked (`p`, checkpoints): training never waits for the device.

    In the training loop (the policy 'ada', from `build_augment`):
      * in every D step, after D scores the augmented reals: `augment.observe(real_logits)` (no host sync);
      * every `augment.interval` D steps, on every rank: `augment.adjust(images)` with `images` the global number of
        real images D saw since the last adjust (batch * interval); it all-reduces the counts through
        ganforge.dist, updates p on the device and returns r_t as a 0-d device tensor (NaN if nothing was
        observed; None before the first observe), worth logging with p; no host sync;
      * `augment(images)` augments whatever D sees, reals and fakes alike, with the current p;
      * `state_dict()` / `load_state_dict()` go in the checkpoint (plain floats and strings).
    """

    policy = "ada"

    def __init__(
        self,
        target: float = 0.6,
        speed_kimg: float = 500.0,
        interval: int = 4,
        p: float = 0.0,
        ops: tuple[str, ...] = DEFAULT_OPS,
    ):
        self.target = target  # r_t that p steers towards
        self.speed_kimg = speed_kimg  # thousands of real images for p to go from 0 to 1
        self.interval = interval  # D steps between adjustments
        self.p_device = _probability(p, torch.device("cpu"))  # current augmentation probability, 0-d
        self.pipeline = AdaptivePipeline(ops)
        self._sums: Tensor | None = None  # [sum of sign(real logits), count], on the logits' device

    @property
    def p(self) -> float:
        """The current p on the host (reads the device: for tests, checkpoints and tools, not the training step)."""
        return float(self.p_device)

    @p.setter
    def p(self, value: float) -> None:
        self.p_device = _probability(value, self.p_device.device)

    @property
    def ops(self) -> tuple[str, ...]:
        """The pipeline's op names (non-empty, so a paired loop replays the draws on its condition images)."""
        return self.pipeline.ops

    def __call__(self, images: Tensor) -> Tensor:
        if self.p_device.device != images.device:
            self.p_device = _probability(self.p_device, images.device)
        return self.pipeline(images, self.p_device)

    def observe(self, real_logits: Tensor) -> None:
        """Accumulate sign(D(real)) of one D step; `real_logits` [N] or [N, P] (patch outputs count each)."""
        signs = real_logits.detach().sign().float()
        update = torch.stack([signs.sum(), signs.new_full((), signs.numel())])
        if self._sums is None:
            self._sums = torch.zeros(2, device=signs.device)
        self._sums = self._sums.to(signs.device) + update

    def accumulators(self) -> Tensor:
        """[2]: sum of signs and count since the last adjust, on this rank (a copy)."""
        return self._sums.clone() if self._sums is not None else torch.zeros(2)

    def adjust(self, images_since_last: int) -> Tensor | None:
        """Reduce the accumulators over ranks, move p by sign(r_t - target) * images / (speed_kimg * 1000) within
        [0, 1], reset them, and return r_t (0-d, NaN if nothing was observed since the last adjust; None if nothing
        ever was). All on the device: no host sync."""
        from ..dist import all_reduce_sum

        if self._sums is None:
            return None
        totals = all_reduce_sum(self._sums.clone()).to(_dtype(self._sums.device))
        self._sums.zero_()
        sign_sum, count = totals[0], totals[1]
        r_t = sign_sum / count  # NaN when count is 0: then p stays
        direction = torch.where(count > 0, (r_t > self.target).to(r_t.dtype) - (r_t < self.target).to(r_t.dtype), 0)
        p = _probability(self.p_device, self._sums.device)
        self.p_device = (p + direction * (images_since_last / (self.speed_kimg * 1000))).clamp(0.0, 1.0)
        return r_t

    def consolidate(self) -> None:
        """On every rank before a checkpoint: move all ranks' pending accumulators onto rank 0 (the others' become 0),
        so that rank 0's checkpoint holds the global sums and a resume at any number of ranks adjusts p exactly as
        the run would have. The next adjust's reduced sums are unchanged (signs and counts are whole numbers)."""
        from ..dist import all_reduce_sum, is_rank_zero

        if self._sums is not None:
            totals = all_reduce_sum(self._sums.clone())
            self._sums = totals if is_rank_zero() else torch.zeros_like(totals)

    def state_dict(self) -> dict:
        """p, the settings, and the pending accumulators (global ones after `consolidate`), as plain floats/strings
        (weights_only-safe)."""
        return {
            "policy": self.policy,
            "p": float(self.p),
            "target": float(self.target),
            "speed_kimg": float(self.speed_kimg),
            "interval": int(self.interval),
            "ops": ",".join(self.ops),
            "pending": [float(v) for v in self.accumulators().tolist()],
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("policy") != self.policy:
            raise ValueError(f"augment policy {state.get('policy')!r} in the checkpoint, {self.policy!r} configured")
        self.p, self.target = float(state["p"]), float(state["target"])  # p: on the device it had
        self.speed_kimg, self.interval = float(state["speed_kimg"]), int(state["interval"])
        self.pipeline = AdaptivePipeline(tuple(state["ops"].split(",")) if state["ops"] else ())
        from ..dist import is_rank_zero

        pending = state["pending"] if is_rank_zero() else [0.0, 0.0]  # rank 0 carries the checkpoint's global sums
        self._sums = torch.tensor(pending, dtype=torch.float32)  # moved to the logits' device when observed


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for p where the device has it (not Apple MPS), so that its steps add up as in Python floats."""
    return torch.float32 if device.type == "mps" else torch.float64


def _probability(value: float | Tensor, device: torch.device) -> Tensor:
    """p as a 0-d tensor on `device`."""
    return torch.as_tensor(value, dtype=_dtype(device)).to(device)
