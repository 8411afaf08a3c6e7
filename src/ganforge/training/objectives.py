"""Training objectives: the GAN maths of each model family, behind one interface the loop schedules.

An objective owns its networks (by checkpoint key), the optimiser phases that train them, what D sees
(augmentation, PacGAN packing, paired conditioning), the losses and regularisers, and its own extra state. The
loop (loop.py) owns the schedule: seeding, d_steps, optimiser steps, EMA, growth, snapshots, DDP and resume, and it
builds optimisers, EMA copies and checkpoint keys from the objective's declarations, so a new family (e.g. one
with four networks) plugs in without touching the loop:

  * `networks` -- trainable modules by checkpoint key ("G", "D", ...);
  * `phases` -- the optimiser of each phase: which networks it trains, whether it is a discriminator phase (its lr
    is --lr-d), and the lazy-regularisation interval its Adam compensates for (StyleGAN2);
  * `ema` -- networks that get an exponential moving average copy, saved as NAME_ema.

Per iteration the loop calls `prepare` on each real batch, `d_step` d_steps times (the last one keeps its fakes
for the G step), then `g_step`; each step calls backward and returns its detached stats, and the loop steps the
phase's optimiser. Objectives are registered under their Task's value (`ModelSpec.task`), or under a name a
model names as its own (`ModelSpec.objective`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from .. import data as data_lib
from .. import dist, models
from ..augment import AdaptiveAugment, build_augment
from ..config import Config, DataConfig
from ..data.base import DatasetInfo
from ..data.sampler import preview_indices
from ..dist import DistInfo
from ..errors import ConfigError
from ..families import Task
from ..imaging import to_float, to_uint8
from ..losses import LOSSES, gradient_penalty, r1_penalty, schedule_factor
from ..registry import Registry
from .growth import Growth, reals_at
from .init import freeze_d_blocks
from .joint_augment import augment_alike, flip_and_jitter

if TYPE_CHECKING:
    from ..artifacts.generator import LoadedGenerator

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor | None]  # (real images B [N, C, H, W] in [-1, 1], condition: labels [N], image A, or None)
Views = Callable[[nn.Module], nn.Module]  # wraps a network for training (DDP) or speed (torch.compile)
GRID_BATCH = 64  # images per forward pass for snapshot grids and in-training metrics


def linear_decay(kimg: float, total_kimg: float, decay_kimg: float) -> float:
    """1 until `decay_kimg` before `total_kimg`, then linearly down to 0 at `total_kimg` (1 if `decay_kimg` is 0)."""
    if decay_kimg <= 0:
        return 1.0
    return min(1.0, max(0.0, (total_kimg - kimg) / decay_kimg))


def d_interval(cfg: Config) -> int:
    """The D phase's lazy-regularisation interval: --r1-interval when R1 or R2 is on, else 1."""
    return cfg.loss.r1_interval if cfg.loss.r1_gamma > 0 or cfg.loss.r2_gamma > 0 else 1


@dataclass(frozen=True)
class Phase:
    name: str  # optimiser name; its state is saved as opt_<name>
    networks: tuple[str, ...]  # the networks whose parameters it updates
    discriminator: bool = False  # lr from --lr-d (when set) instead of --lr
    interval: int = 1  # lazy regularisation: Adam's lr and betas compensate a regulariser applied every N steps


class Objective:
    """Base class; subclasses build their networks in __init__ and implement the steps."""

    task: ClassVar[Task] = Task.NOISE_TO_IMAGE  # the data it reads: (image, label), (B, A) pairs, or (B, A) unpaired
    supports_metrics: ClassVar[bool] = False  # in-training FID etc. (noise-to-image generators)
    networks: dict[str, nn.Module]
    phases: tuple[Phase, ...]
    ema: tuple[str, ...] = ()

    def __init__(
        self, cfg: Config, info: DatasetInfo, num_classes: int, device: torch.device, memory_format: torch.memory_format
    ):
        self.cfg, self.info, self.num_classes, self.device = cfg, info, num_classes, device
        self.memory_format = memory_format
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
        self.rank = DistInfo()

    @classmethod
    def build_dataset(cls, data: DataConfig) -> data_lib.ImageDataset:
        """The training data this family reads (not yet cached in memory)."""
        return data_lib.build(data, cache=False, task=cls.task)

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """The configured model's G and D on the device, in the memory format; initial weights depend on the seed."""
        torch.manual_seed(self.cfg.train.seed)
        G, D = models.build(self.cfg.model, self.info, self.num_classes, self.cfg.loss.name)
        return G.to(self.device, memory_format=self.memory_format), D.to(self.device, memory_format=self.memory_format)

    def generator(self, module: nn.Module, kimg: float) -> LoadedGenerator:
        """`module` (the EMA of "G") behind the LoadedGenerator interface that in-training metrics sample through;
        objectives with `supports_metrics` implement it."""
        raise NotImplementedError

    def bind(self, rank: DistInfo, distributed: Views, compiled: Views) -> None:
        """Called once the networks sit on their device with their state loaded: make the training views."""
        self.rank = rank

    def autocast(self):
        """Mixed precision (--precision bf16/fp16) around forward passes; StyleGAN2 keeps its low resolutions fp32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def prepare(self, batch: tuple[Tensor, Tensor], stage: Growth) -> Batch:
        raise NotImplementedError

    def d_step(self, batch: Batch, d_step: int, keep_fakes: bool) -> dict[str, Tensor]:
        raise NotImplementedError

    def g_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        raise NotImplementedError

    def scalars(self) -> dict[str, float | Tensor]:
        """Extra numbers for the stats row, called at log time only: floats, or 0-d device tensors that the loop reads
        with the losses in one host copy."""
        return {}

    def lr_scale(self, kimg: float) -> float:
        """Factor on every optimiser's learning rate at this point of training: --lr-schedule's (1, or R3GAN's cosine
        down to --lr-final-ratio over --schedule-kimg), times 1 then linearly down to 0 over the last
        --lr-decay-kimg of --kimg (1 throughout when that is 0)."""
        return self.lr_cosine(kimg) * linear_decay(kimg, self.cfg.train.total_kimg, self.cfg.optim.lr_decay_kimg)

    def lr_cosine(self, kimg: float) -> float:
        """--lr-schedule's factor: 1 (constant), or the cosine down to --lr-final-ratio over --schedule-kimg."""
        optim = self.cfg.optim
        return schedule_factor(
            optim.lr_schedule, kimg, optim.schedule_kimg or self.cfg.train.total_kimg, optim.lr_final_ratio
        )

    def adam_beta2(self, kimg: float) -> float | None:
        """Adam's beta2 at this point of training under --beta2-schedule cosine (R3GAN: from --beta2-start up to the
        beta2 of --betas over --schedule-kimg); None when constant (the optimisers keep --betas)."""
        optim = self.cfg.optim
        if optim.beta2_schedule == "constant":
            return None
        start = schedule_factor("cosine", kimg, optim.schedule_kimg or self.cfg.train.total_kimg, 0.0)  # 1 -> 0
        return optim.betas[1] + (optim.beta2_start - optim.betas[1]) * start

    def state_dict(self) -> dict[str, Any]:
        """Objective state saved at the top level of checkpoints, beside the networks and optimisers."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def gather_for_checkpoint(self) -> None:
        """Called on every rank just before rank 0 saves a checkpoint: collect onto rank 0 any per-rank state the
        checkpoint must hold (collectives allowed here, unlike in `state_dict`, which only rank 0 calls)."""

    def grid_images(
        self, ema: dict[str, nn.Module], dataset: data_lib.ImageDataset, count: int, seed: int, kimg: float
    ) -> Tensor:
        """uint8 [N, C, H, W] for the snapshot grid."""
        raise NotImplementedError

    def grid_columns(self) -> int | None:
        return None

    def reals_grid(self, dataset: data_lib.ImageDataset, count: int) -> Tensor | None:
        """uint8 [N, C, H, W] real images for samples/reals.png at the start of a run (None: no such grid)."""
        return None


OBJECTIVES: Registry[type[Objective]] = Registry("model family")  # a Task's value, or a ModelSpec's own objective


class _AdversarialSteps(Objective):
    """What the two single-G/single-D families share: the configured loss, augmentation and R1 / WGAN-GP in D."""

    def __init__(
        self, cfg: Config, info: DatasetInfo, num_classes: int, device: torch.device, memory_format: torch.memory_format
    ):
        super().__init__(cfg, info, num_classes, device, memory_format)
        self.G, self.D = self.build_networks()
        self.networks = {"G": self.G, "D": self.D}
        self.d_trainable = freeze_d_blocks(self.D, cfg.train.freeze_d, cfg.model.name)  # all of D without --freeze-d
        self.loss = LOSSES.get(cfg.loss.name)
        self.augment = build_augment(cfg.augment.policy, cfg.augment.ada_target, cfg.augment.ada_kimg)
        self.adaptive = isinstance(self.augment, AdaptiveAugment)  # ADA: p follows D's overfitting
        # dual projection (Han et al. 2021): D's per-class projection scores also train as a classifier
        self.classify = cfg.loss.class_weight > 0 and num_classes > 1 and getattr(self.D, "gives_class_scores", False)
        self.r_t: Tensor | None = None  # ADA's last overfitting heuristic E[sign(D(real))], on the device
        self.gamma_scale = 1.0  # --gamma-schedule's factor on --r1-gamma / --r2-gamma, set per iteration
        self.G_train = self.D_train = self.G_fast = self.D_fast = self.D_frozen = None
        self._fake: Tensor | None = None  # the last D step's fakes, with graph, for the G step

    def bind(self, rank: DistInfo, distributed: Views, compiled: Views) -> None:
        super().bind(rank, distributed, compiled)
        self.G_train, self.D_train = distributed(self.G), distributed(self.D)
        # forward passes without a double backward may be compiled; R1 and path length use the eager modules
        self.G_fast, self.D_fast, self.D_frozen = compiled(self.G_train), compiled(self.D_train), compiled(self.D)

    def _generate(self, batch: Batch) -> Tensor:
        raise NotImplementedError

    def _for_d(self, images: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def lr_scale(self, kimg: float) -> float:
        """The base schedule; the loop calls this once per iteration, so the gamma schedule's factor follows here."""
        cfg = self.cfg.loss
        self.gamma_scale = schedule_factor(
            cfg.gamma_schedule, kimg, cfg.gamma_decay_kimg or self.cfg.train.total_kimg, cfg.gamma_final_ratio
        )
        return super().lr_scale(kimg)

    def d_step(self, batch: Batch, d_step: int, keep_fakes: bool) -> dict[str, Tensor]:
        """One D update's loss (R1 on reals and R2 on fakes every r1_interval-th step, scaled up by the interval:
        lazy regularisation)."""
        real, cond = batch
        with torch.set_grad_enabled(keep_fakes):  # the last fakes feed the G step
            fake = self._generate(batch)
        self._fake = fake if keep_fakes else None
        cfg = self.cfg.loss
        regularise = d_step % cfg.r1_interval == 0
        use_r1, use_r2 = regularise and cfg.r1_gamma > 0, regularise and cfg.r2_gamma > 0
        real_in, real_cond = self._for_d(real, cond)  # augmentation runs in fp32 for reals and fakes alike
        real_in = real_in.detach().requires_grad_(use_r1)
        fake_in, fake_cond = self._for_d(fake.detach().float(), cond)
        fake_in = fake_in.detach().requires_grad_(use_r2)
        with self.autocast():
            real_logits, class_loss = self._judge(self.D_train if use_r1 else self.D_fast, real_in, real_cond)
            if self.adaptive:
                self.augment.observe(real_logits)
            fake_logits = (self.D_train if use_r2 else self.D_fast)(fake_in, fake_cond)
            mismatched = self._mismatched_logits(real_in.detach(), real_cond)
            # reals under a wrong label count as fakes, half the fake term each
            judged_fake = fake_logits if mismatched is None else torch.cat([fake_logits, mismatched])
            loss = self.loss.d_loss(real_logits, judged_fake) + class_loss
            penalty = torch.zeros((), device=self.device)
            weight = self.gamma_scale / 2 * cfg.r1_interval
            if use_r1:
                penalty = penalty + cfg.r1_gamma * weight * r1_penalty(real_logits, real_in)
            if use_r2:
                penalty = penalty + cfg.r2_gamma * weight * r1_penalty(fake_logits, fake_in)
            if self.loss.gradient_penalty:
                penalty = penalty + cfg.gp_weight * gradient_penalty(
                    lambda x: self.D_train(x, real_cond), real_in, fake_in
                )
        (loss + penalty).backward()
        if self.adaptive and (d_step + 1) % self.augment.interval == 0:
            self.r_t = self.augment.adjust(self.cfg.train.batch * self.augment.interval)
        # r_t = E[sign(D(real))], ADA's overfitting heuristic, logged for every run (it climbs as D memorises reals)
        stats = {"loss_D": loss.detach(), "loss_penalty": penalty.detach(), "r_t": real_logits.detach().sign().mean()}
        return stats | ({"loss_class_real": class_loss.detach()} if self.classify else {})

    def _judge(self, D: nn.Module, images: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        """D's logits [N] and, with --class-weight, the weighted cross-entropy of its class scores against the
        labels `cond` (a zero otherwise): the classification term of the dual projection D."""
        if not self.classify:
            return D(images, cond), torch.zeros((), device=images.device)
        logits, scores = D(images, cond, class_scores=True)
        return logits, self.cfg.loss.class_weight * nn.functional.cross_entropy(scores.float(), cond)

    def _mismatched_logits(self, real_in: Tensor, real_cond: Tensor | None) -> Tensor | None:
        """D's logits on reals under a wrong label, for families whose D reads one; None: not used."""
        return None

    def _unfreeze_d(self) -> None:
        """After a G step: D's parameters train again, except those --freeze-d keeps fixed."""
        for parameter in self.d_trainable:
            parameter.requires_grad_(True)

    def _adversarial_g_loss(self, fake: Tensor, cond: Tensor | None, real: Tensor) -> Tensor:
        """G's loss through the frozen, unsynchronised discriminator; a relativistic loss pairs each fake logit with
        the logit of a real image (no gradient: only G trains here)."""
        fake_in, fake_cond = self._for_d(fake.float(), cond)
        fake_logits, class_loss = self._judge(self.D_frozen, fake_in, fake_cond)  # fakes must read as their label
        if not self.loss.relativistic:
            return self.loss.g_loss(fake_logits) + class_loss
        with torch.no_grad():
            real_in, real_cond = self._for_d(real, cond)
            real_logits = self.D_frozen(real_in, real_cond)
        return self.loss.g_loss(fake_logits, real_logits) + class_loss

    def scalars(self) -> dict[str, float | Tensor]:
        if not self.adaptive:
            return {}
        return {"augment_p": self.augment.p_device} | ({"augment_rt": self.r_t} if self.r_t is not None else {})

    def state_dict(self) -> dict[str, Any]:
        return {"augment": self.augment.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.augment.load_state_dict(state["augment"])

    def gather_for_checkpoint(self) -> None:
        if self.adaptive:
            self.augment.consolidate()


@OBJECTIVES.register(Task.NOISE_TO_IMAGE.value)
class NoiseToImage(_AdversarialSteps):
    """G(z, labels) -> images against D(images, labels) (Goodfellow et al. 2014): the configured loss, R1 or WGAN-GP
    in D, PacGAN packing (Lin et al. 2018), differentiable/adaptive augmentation of everything D sees, and for
    style-based generators path-length regularisation (Karras et al. 2020)."""

    supports_metrics = True
    ema = ("G",)

    def __init__(
        self, cfg: Config, info: DatasetInfo, num_classes: int, device: torch.device, memory_format: torch.memory_format
    ):
        super().__init__(cfg, info, num_classes, device, memory_format)
        self.style_based = models.is_style_based(self.G)
        if cfg.loss.pl_weight > 0 and not self.style_based:
            raise ConfigError(f"--pl-weight: model {cfg.model.name!r} has no style latents to regularise")
        self.phases = (
            Phase("D", ("D",), discriminator=True, interval=d_interval(cfg)),
            Phase("G", ("G",), interval=cfg.loss.pl_interval if cfg.loss.pl_weight > 0 else 1),
        )
        self.pl_mean = torch.zeros((), device=device)  # running mean of path lengths (StyleGAN2), per rank
        self.pl_means: Tensor | None = None  # [world]: every rank's pl_mean, gathered for a checkpoint

    def prepare(self, batch: tuple[Tensor, Tensor], stage: Growth) -> Batch:
        """(real images [B, C, H, W] in [-1, 1] at the growth stage's size, labels [B] or None)."""
        images, labels = batch
        real = flip_and_jitter(to_float(images.to(self.device, non_blocking=True)), self.cfg.data.mirror, jitter=False)
        if stage.resolution < self.info.resolution or stage.alpha < 1:
            real = reals_at(real, stage)
        cond = labels.to(self.device, non_blocking=True) if self.num_classes else None
        return real.contiguous(memory_format=self.memory_format), cond

    def _generate(self, batch: Batch) -> Tensor:
        real, labels = batch
        with self.autocast():
            return self.G_fast(torch.randn(real.shape[0], self.cfg.model.z_dim, device=self.device), labels)

    def _for_d(self, images: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Augmented images, packed `pack` at a time along channels for PacGAN: [B, C, H, W] -> [B/pack, pack*C, H, W]."""
        images = self.augment(images)
        pack = self.cfg.model.pack
        if pack > 1:
            images = images.reshape(-1, pack * images.shape[1], *images.shape[2:])
        return images, cond

    def _mismatched_logits(self, real_in: Tensor, real_cond: Tensor | None) -> Tensor | None:
        """Matching-aware D (Reed et al. 2016): D's logits on the real images, each under a random wrong class
        [B], for the fake side of its loss. Without them, a projection D may learn the label from anything fakes
        tie to it: on the built-in shapes, whose colour is random whatever the class, G gave each class one colour
        and drew shapes near chance (issue 27); judging real shapes under wrong labels, D has to read the shape."""
        if real_cond is None or self.num_classes < 2 or not self.cfg.loss.mismatch or self.loss.relativistic:
            return None  # a relativistic loss pairs each fake with one real: no room for extra fakes
        offset = torch.randint(1, self.num_classes, real_cond.shape, device=real_cond.device)
        return self.D_fast(real_in, (real_cond + offset) % self.num_classes)

    def g_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """The G update's loss through the frozen D, plus path-length regularisation every pl_interval steps."""
        real, labels = batch
        self.D.requires_grad_(False)
        with self.autocast():
            loss = self._adversarial_g_loss(self._fake, labels, real)
        loss.backward()
        if self.cfg.loss.pl_weight > 0 and step % self.cfg.loss.pl_interval == 0:
            self._path_length_penalty(labels).backward()
        self._unfreeze_d()
        self._fake = None
        return {"loss_G": loss.detach()}

    def _path_length_penalty(self, labels: Tensor | None) -> Tensor:
        """Path-length regularisation (StyleGAN2): E[(|J_w^T y| - a)^2] on half a batch, y ~ N(0, I) / sqrt(HW),
        `a` a running mean of the lengths; scaled by the interval."""
        count = max(1, self.cfg.train.batch // self.rank.world // 2)
        z = torch.randn(count, self.cfg.model.z_dim, device=self.device)
        offset = torch.zeros(count, self.G.num_ws, self.G.w_dim, device=self.device, requires_grad=True)
        with self.autocast():
            images = self.G_train(z, labels[:count] if labels is not None else None, ws_offset=offset)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), offset, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()  # [count]
        self.pl_mean.copy_(self.pl_mean.lerp(lengths.mean().detach(), 0.01))
        penalty = (lengths - self.pl_mean).square().mean() * self.cfg.loss.pl_weight * self.cfg.loss.pl_interval
        return penalty + images[:, 0, 0, 0].sum() * 0  # the zero term keeps every output in the graph (DDP)

    def gather_for_checkpoint(self) -> None:
        super().gather_for_checkpoint()
        self.pl_means = dist.all_gather(self.pl_mean.detach()).cpu()

    def state_dict(self) -> dict[str, Any]:
        ranks = {"pl_mean_ranks": self.pl_means} if self.pl_means is not None else {}
        return super().state_dict() | {"pl_mean": self.pl_mean.detach().cpu()} | ranks

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """pl_mean is per rank: each rank takes its own when the number of ranks is the checkpoint's, else rank 0's."""
        super().load_state_dict(state)
        ranks, (rank, world) = state.get("pl_mean_ranks"), dist.rank_and_world()
        self.pl_mean.copy_(ranks[rank] if ranks is not None and len(ranks) == world else state["pl_mean"])

    def generator(self, module: nn.Module, kimg: float) -> LoadedGenerator:
        """`module` (G_ema) behind the LoadedGenerator interface that sampling and evaluation use."""
        from ..artifacts.generator import LoadedGenerator

        return LoadedGenerator(module, self.cfg.model, self.info, self.num_classes, kimg, {}, "training")

    @torch.no_grad()
    def grid_images(
        self, ema: dict[str, nn.Module], dataset: data_lib.ImageDataset, count: int, seed: int, kimg: float
    ) -> Tensor:
        """G_ema at the run's fixed latents (class k in column k when conditional)."""
        z = torch.randn(count, self.cfg.model.z_dim, generator=torch.Generator().manual_seed(seed))
        labels = torch.arange(count) % self.num_classes if self.num_classes else None
        return to_uint8(self.generator(ema["G"], kimg).synthesize(z, labels, GRID_BATCH))

    def grid_columns(self) -> int | None:
        return self.num_classes if 1 < self.num_classes <= 16 else None

    def reals_grid(self, dataset: data_lib.ImageDataset, count: int) -> Tensor | None:
        return dataset.batch(preview_indices(len(dataset), count))[0]


@OBJECTIVES.register(Task.PAIRED.value)
class ImageToImage(_AdversarialSteps):
    """pix2pix (Isola et al. 2017): G(A) -> B against D(B | A) on aligned pairs, + lambda * L1(G(A), B); flips,
    jitter and augmentation draw once for A and B alike."""

    task = Task.PAIRED
    ema = ("G",)

    def __init__(
        self, cfg: Config, info: DatasetInfo, num_classes: int, device: torch.device, memory_format: torch.memory_format
    ):
        super().__init__(cfg, info, num_classes, device, memory_format)
        self.phases = (Phase("D", ("D",), discriminator=True, interval=d_interval(cfg)), Phase("G", ("G",)))

    def prepare(self, batch: tuple[Tensor, Tensor], stage: Growth) -> Batch:
        """(targets B, inputs A), both [B, C, H, W] in [-1, 1], flipped and jittered alike."""
        targets, inputs = (to_float(t.to(self.device, non_blocking=True)) for t in batch)
        joint = flip_and_jitter(torch.cat([targets, inputs], 1), self.cfg.data.mirror, self.cfg.data.jitter)
        split = targets.shape[1]
        return (
            joint[:, :split].contiguous(memory_format=self.memory_format),
            joint[:, split:].contiguous(memory_format=self.memory_format),
        )

    def _generate(self, batch: Batch) -> Tensor:
        with self.autocast():
            return self.G_fast(batch[1])

    def _for_d(self, images: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """The output image and its input A, augmented by the same draw."""
        return augment_alike(self.augment, images, cond, self.device)

    def g_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """The G update's loss: adversarial through the frozen D + lambda * L1 to the target."""
        real, inputs = batch
        self.D.requires_grad_(False)
        with self.autocast():
            loss = self._adversarial_g_loss(self._fake, inputs, real)
            if self.cfg.loss.l1_weight > 0:
                loss = loss + self.cfg.loss.l1_weight * (self._fake.float() - real).abs().mean()
        loss.backward()
        self._unfreeze_d()
        self._fake = None
        return {"loss_G": loss.detach()}

    @torch.no_grad()
    def grid_images(
        self, ema: dict[str, nn.Module], dataset: data_lib.ImageDataset, count: int, seed: int, kimg: float
    ) -> Tensor:
        """(A, G(A), B) triplets of a random sample of training pairs (the same for every snapshot of a run)."""
        targets, inputs = dataset.batch(preview_indices(len(dataset), max(1, count // 3), seed))
        outputs = to_uint8(ema["G"](to_float(inputs.to(self.device)))).cpu()
        channels = targets.shape[1]
        return torch.stack(
            [t for triplet in zip(inputs.expand(-1, channels, -1, -1), outputs, targets) for t in triplet]
        )

    def grid_columns(self) -> int | None:
        return 6  # two (A, G(A), B) triplets per row
