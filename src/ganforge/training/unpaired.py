"""The unpaired image-to-image objective: CycleGAN (Zhu, Park, Isola & Efros 2017).

Two generators G: A -> B and F: B -> A (one `CycleGenerators` module, checkpoint key "G") and two PatchGANs D_B, D_A
(one `CycleDiscriminators` module, key "D"), one Adam for both generators and one for both discriminators as in the
authors' code. Losses: least squares (Mao et al. 2017) against each D, cycle consistency lambda * (|F(G(a)) - a| +
|G(F(b)) - b|) with lambda = 10, identity 0.5 * lambda * (|G(b) - b| + |F(a) - a|); each D learns from a history of
50 earlier fakes (Shrivastava et al. 2017), whose contents are saved in checkpoints so a resumed run is exact. The
learning rate stays constant for the first half of --kimg and decays linearly to zero over the second half.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import data as data_lib
from ..config import Config
from ..data.base import DatasetInfo
from ..data.sampler import preview_indices
from ..families import Task
from ..imaging import to_float, to_uint8
from ..losses import LOSSES
from .growth import Growth
from .joint_augment import flip_and_jitter
from .objectives import OBJECTIVES, Batch, Objective, Phase, Views, linear_decay

Tensor = torch.Tensor
CYCLE_WEIGHT = 10.0  # lambda: cycle-consistency weight, each way
IDENTITY_WEIGHT = 0.5 * CYCLE_WEIGHT  # identity-mapping weight (0.5 lambda)
POOL_SIZE = 50  # fakes remembered per discriminator
LSGAN = LOSSES.get("lsgan")


class ImagePool:
    """A history of generated images (Shrivastava et al. 2017): while filling up, each new fake is stored and shown;
    then each is shown as is or, with probability 1/2, swapped for a random stored one (which it replaces)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.images: Tensor | None = None  # [count, C, H, W], count <= capacity

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    def query(self, fakes: Tensor) -> Tensor:
        """Detached fakes [N, C, H, W] -> what D sees [N, C, H, W]; draws from the global torch RNG on the fakes'
        device (seeded per step) and decides there: no host sync."""
        fakes = fakes.detach()
        shown = fakes.clone()
        swap = torch.rand(len(fakes), device=fakes.device) < 0.5  # [N], used once the pool is full
        slots = torch.randint(0, self.capacity, (len(fakes),), device=fakes.device)  # [N]
        for index in range(len(fakes)):
            if len(self) < self.capacity:
                new = fakes[index : index + 1].clone()
                self.images = new if self.images is None else torch.cat([self.images, new])
                continue
            slot, old = slots[index : index + 1], self.images[slots[index : index + 1]]  # [1], [1, C, H, W]
            shown[index : index + 1] = torch.where(swap[index], old, fakes[index : index + 1])
            self.images.index_copy_(0, slot, torch.where(swap[index], fakes[index : index + 1], old))
        return shown

    def state_dict(self) -> Tensor:
        return torch.empty(0) if self.images is None else self.images.detach().cpu().clone()

    def load_state_dict(self, images: Tensor, device: torch.device) -> None:
        self.images = images.to(device) if len(images) else None


@OBJECTIVES.register(Task.UNPAIRED.value)
class Unpaired(Objective):
    """CycleGAN's two translations between domains A and B, learnt from two independent image sets."""

    task = Task.UNPAIRED
    ema = ("G",)

    def __init__(
        self, cfg: Config, info: DatasetInfo, num_classes: int, device: torch.device, memory_format: torch.memory_format
    ):
        super().__init__(cfg, info, num_classes, device, memory_format)
        self.G, self.D = self.build_networks()  # CycleGenerators, CycleDiscriminators
        self.networks = {"G": self.G, "D": self.D}
        self.phases = (Phase("D", ("D",), discriminator=True), Phase("G", ("G",)))
        self.pools = {"a": ImagePool(POOL_SIZE), "b": ImagePool(POOL_SIZE)}  # fakes of domain A (for D_A), B (for D_B)
        self.G_train = self.G_fast = self.D_fast = None
        self._fakes: tuple[Tensor, Tensor] | None = None  # the last D step's (G(a), F(b)), with graph, for the G step

    def bind(self, rank, distributed: Views, compiled: Views) -> None:
        super().bind(rank, distributed, compiled)
        self.G_train = distributed(self.G)
        self.G_fast, self.D_fast = compiled(self.G_train), compiled(distributed(self.D))

    def lr_scale(self, kimg: float) -> float:
        """By default 1 for the first half of --kimg, then linearly down to 0 at its end (the paper's 100 + 100
        epochs); --lr-decay-kimg sets another decay length. Times --lr-schedule's factor."""
        total = self.cfg.train.total_kimg
        return self.lr_cosine(kimg) * linear_decay(kimg, total, self.cfg.optim.lr_decay_kimg or total / 2)

    def prepare(self, batch: tuple[Tensor, Tensor], stage: Growth) -> Batch:
        """(real B, real A), both [N, C, H, W] in [-1, 1], each flipped/jittered on its own draw (they are unrelated)."""
        data = self.cfg.data
        real_b, real_a = (
            flip_and_jitter(to_float(t.to(self.device, non_blocking=True)), data.mirror, data.jitter).contiguous(
                memory_format=self.memory_format
            )
            for t in batch
        )
        return real_b, real_a

    def d_step(self, batch: Batch, d_step: int, keep_fakes: bool) -> dict[str, Tensor]:
        """D_B: real b vs pooled G(a); D_A: real a vs pooled F(b); each 0.5 * (MSE(real, 1) + MSE(fake, 0))."""
        real_b, real_a = batch
        with torch.set_grad_enabled(keep_fakes), self.autocast():  # the last fakes feed the G step
            fake_b, fake_a = self.G_fast(real_a, direction="a2b"), self.G_fast(real_b, direction="b2a")
        self._fakes = (fake_b, fake_a) if keep_fakes else None
        shown_b, shown_a = self.pools["b"].query(fake_b.float()), self.pools["a"].query(fake_a.float())
        with self.autocast():
            real_logits_b, real_logits_a = self.D_fast(real_b, real_a).chunk(2, dim=1)  # [N, P] each
            fake_logits_b, fake_logits_a = self.D_fast(shown_b, shown_a).chunk(2, dim=1)
            loss = LSGAN.d_loss(real_logits_b, fake_logits_b) + LSGAN.d_loss(real_logits_a, fake_logits_a)
        loss.backward()
        return {"loss_D": loss.detach()}

    def g_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """Least squares through the frozen Ds + lambda * cycle L1 + 0.5 lambda * identity L1, both directions."""
        real_b, real_a = batch
        fake_b, fake_a = self._fakes
        self.D.requires_grad_(False)
        with self.autocast():
            logits_b, logits_a = self.D(fake_b, fake_a).chunk(2, dim=1)
            # the authors weigh MSE(D(fake), 1) by 1 against lambda: twice losses.lsgan's 0.5 * MSE
            adversarial = 2 * (LSGAN.g_loss(logits_b) + LSGAN.g_loss(logits_a))
            cycle = _l1(self.G_train(fake_b, direction="b2a"), real_a) + _l1(
                self.G_train(fake_a, direction="a2b"), real_b
            )
            identity = _l1(self.G_train(real_b, direction="a2b"), real_b) + _l1(
                self.G_train(real_a, direction="b2a"), real_a
            )
            loss = adversarial + CYCLE_WEIGHT * cycle + IDENTITY_WEIGHT * identity
        loss.backward()
        self.D.requires_grad_(True)
        self._fakes = None
        return {"loss_G": loss.detach(), "loss_cycle": cycle.detach(), "loss_identity": identity.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {f"history_{side}": pool.state_dict() for side, pool in self.pools.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for side, pool in self.pools.items():
            pool.load_state_dict(state[f"history_{side}"], self.device)

    @torch.no_grad()
    def grid_images(
        self, ema: dict[str, nn.Module], dataset: data_lib.ImageDataset, count: int, seed: int, kimg: float
    ) -> Tensor:
        """Rows of A | G(A) | F(G(A)) | B | F(B) | G(F(B)) for a random sample of each side's training images (the
        same for every snapshot of a run)."""
        G = ema["G"]
        reals_b, reals_a = dataset.batch(preview_indices(len(dataset), max(1, count // 6), seed))
        a, b = to_float(reals_a.to(self.device)), to_float(reals_b.to(self.device))
        fake_b, fake_a = G(a, direction="a2b"), G(b, direction="b2a")
        columns = [a, fake_b, G(fake_b, direction="b2a"), b, fake_a, G(fake_a, direction="a2b")]
        return to_uint8(torch.stack(columns, dim=1).flatten(0, 1)).cpu()  # [rows * 6, C, H, W]

    def grid_columns(self) -> int | None:
        return 6


def _l1(x: Tensor, y: Tensor) -> Tensor:
    return (x.float() - y).abs().mean()
