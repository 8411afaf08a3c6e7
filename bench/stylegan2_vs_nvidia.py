"""StyleGAN2 training and sampling img/s of ganforge against NVIDIA's stylegan2-ada-pytorch, in one process, interleaved.

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/sg2ada      # outside the repository
    OMP_NUM_THREADS=1 python bench/stylegan2_vs_nvidia.py --nvidia-dir /tmp/sg2ada

The configuration is the one of issue 28, the same in both: 32x32 RGB, width 128 at every resolution, z/w 512, 2
mapping layers, batch 64, non-saturating loss, lazy R1 (gamma 0.01) every 16th D step, no path length, no style
mixing, no augmentation, minibatch-stddev groups of 4, Adam (lr 0.0025, betas 0/0.99, lazy-regularisation corrected)
and a G EMA. NVIDIA's networks run their reference (non-CUDA) path: on a CPU their custom ops fall back to plain
PyTorch by themselves; nothing is compiled. Their code is imported from `--nvidia-dir`, never copied here.

One training iteration on each side: D main (fakes and reals), D R1 every 16th, G main, EMA; each round times one
R1 iteration and --steps plain ones, weighted 1 : 15. Prints img/s (per CPU-second unless --wall), the
ratio ganforge / NVIDIA, the parameter counts (checked equal) and the machine's load.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import images_per_second, interleaved

from ganforge.config import resolve
from ganforge.data.base import DatasetInfo, TensorImageDataset
from ganforge.data.sampler import batches
from ganforge.dist import DistInfo
from ganforge.training.loop import Trainer

RESOLUTION, WIDTH, LATENT, MAPPING_LAYERS, R1_GAMMA, R1_INTERVAL, MBSTD_GROUP, LR = 32, 128, 512, 2, 0.01, 16, 4, 0.0025


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class NvidiaTraining:
    """NVIDIA's training phases (training_loop.py's inner loop) at the issue's configuration, on their CPU path."""

    def __init__(self, nvidia_dir: Path, batch: int, reals: torch.Tensor):
        sys.path.insert(0, str(nvidia_dir))
        from training.loss import StyleGAN2Loss
        from training.networks import Discriminator, Generator

        self.batch, self.reals = batch, reals
        self.G = Generator(
            z_dim=LATENT,
            c_dim=0,
            w_dim=LATENT,
            img_resolution=RESOLUTION,
            img_channels=3,
            mapping_kwargs={"num_layers": MAPPING_LAYERS},
            synthesis_kwargs={"channel_base": WIDTH * RESOLUTION, "channel_max": WIDTH},
        )
        self.D = Discriminator(
            c_dim=0,
            img_resolution=RESOLUTION,
            img_channels=3,
            channel_base=WIDTH * RESOLUTION,
            channel_max=WIDTH,
            epilogue_kwargs={"mbstd_group_size": MBSTD_GROUP},
        )
        self.G_ema = copy.deepcopy(self.G).eval()
        self.loss = StyleGAN2Loss(
            torch.device("cpu"),
            self.G.mapping,
            self.G.synthesis,
            self.D,
            r1_gamma=R1_GAMMA,
            style_mixing_prob=0,
            pl_weight=0,
        )
        ratio = R1_INTERVAL / (R1_INTERVAL + 1)  # their lazy-regularisation correction of lr and betas (D only)
        self.phases = [
            ("Gboth", self.G, torch.optim.Adam(self.G.parameters(), lr=LR, betas=(0.0, 0.99), eps=1e-8), 1),
            (
                "Dmain",
                self.D,
                torch.optim.Adam(self.D.parameters(), lr=LR * ratio, betas=(0.0, 0.99**ratio), eps=1e-8),
                1,
            ),
        ]
        self.phases.append(("Dreg", self.D, self.phases[1][2], R1_INTERVAL))
        self.step = 0

    def iteration(self) -> None:
        """One batch through every due phase, then the EMA update, as their training loop does."""
        index = torch.randint(0, len(self.reals), (self.batch,))
        real = self.reals[index].to(torch.float32) / 127.5 - 1
        c = torch.zeros(self.batch, 0)
        for name, module, optimizer, interval in self.phases:
            if self.step % interval:
                continue
            optimizer.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            self.loss.accumulate_gradients(
                phase=name,
                real_img=real,
                real_c=c,
                gen_z=torch.randn(self.batch, LATENT),
                gen_c=c,
                sync=True,
                gain=interval,
            )
            module.requires_grad_(False)
            for param in module.parameters():
                if param.grad is not None:
                    torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            optimizer.step()
        beta = 0.5 ** (self.batch / (10 * 1000))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.step += 1

    @torch.inference_mode()
    def sample(self) -> None:
        self.G_ema(torch.randn(self.batch, LATENT), torch.zeros(self.batch, 0), noise_mode="const")


def ganforge_trainer(batch: int, dataset: TensorImageDataset) -> Trainer:
    cfg = resolve(
        {
            "data.source": "shapes",
            "train.batch": batch,
            "train.device": "cpu",
            "model.g_channels": WIDTH,
            "model.d_channels": WIDTH,
            "model.max_channels": WIDTH,
            "model.z_dim": LATENT,
            "model.w_dim": LATENT,
            "model.mapping_layers": MAPPING_LAYERS,
            "loss.r1_gamma": R1_GAMMA,
            "loss.r1_interval": R1_INTERVAL,
        },
        preset="stylegan2-32",
    )
    assert cfg.loss.pl_weight == 0 and cfg.model.style_mixing == 0 and cfg.augment.policy == "none", cfg
    return Trainer(cfg, dataset, torch.device("cpu"), DistInfo(), Path("/nonexistent"), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia-dir", type=Path, required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--steps", type=int, default=3, help="timed plain training iterations per round (plus one with R1)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--wall",
        action="store_true",
        help="time by the wall clock (default: per CPU-second of this "
        "process, which other processes' load does not dilute; meant for one thread)",
    )
    parser.add_argument("--no-sample", action="store_true", help="time training only")
    args = parser.parse_args()
    if not (args.nvidia_dir / "training" / "networks.py").is_file():
        parser.error(
            f"--nvidia-dir {args.nvidia_dir}: no training/networks.py there (a stylegan2-ada-pytorch checkout)"
        )
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reals = torch.randint(0, 256, (max(256, 4 * args.batch), 3, RESOLUTION, RESOLUTION), dtype=torch.uint8)
    dataset = TensorImageDataset(reals, torch.zeros(len(reals), dtype=torch.long), DatasetInfo("bench", RESOLUTION, 3))
    ours, theirs = ganforge_trainer(args.batch, dataset), NvidiaTraining(args.nvidia_dir, args.batch, reals)
    counts = {
        side: (parameter_count(g), parameter_count(d))
        for side, (g, d) in {
            "ganforge": (ours.networks["G"], ours.networks["D"]),
            "nvidia": (theirs.G, theirs.D),
        }.items()
    }
    stream = batches(dataset, args.batch, 0, 0)
    z = torch.randn(args.batch, LATENT)

    @torch.inference_mode()
    def ours_sample() -> None:
        ours.ema["G"](z)

    clock = time.perf_counter if args.wall else time.process_time

    def lazy_r1_rate(iteration: Callable[[], None], at_step: Callable[[int], None]) -> float:
        """img/s of training with R1 every 16th step: one R1 iteration (the step counter set to a multiple of 16)
        and `steps` plain ones are timed, weighted 1 : 15."""
        at_step(R1_INTERVAL * 1000)
        start = clock()
        iteration()
        regularised = clock() - start
        start = clock()
        for _ in range(args.steps):
            iteration()
        plain = (clock() - start) / args.steps
        return args.batch * R1_INTERVAL / (regularised + (R1_INTERVAL - 1) * plain)

    for _ in range(2):  # warm up: step 0 runs R1, step 1 does not
        ours.iteration(stream)
        theirs.iteration()
    candidates = {
        "train nvidia": lambda: lazy_r1_rate(theirs.iteration, lambda step: setattr(theirs, "step", step)),
        "train ganforge": lambda: lazy_r1_rate(
            lambda: ours.iteration(stream), lambda step: setattr(ours, "step", step)
        ),
    }
    if not args.no_sample:
        candidates |= {
            "sample nvidia": lambda: images_per_second(theirs.sample, args.batch, args.steps * 4, 1, clock),
            "sample ganforge": lambda: images_per_second(ours_sample, args.batch, args.steps * 4, 1, clock),
        }
    load_before = os.getloadavg()[0]
    rates = interleaved(candidates, args.rounds)
    load_after = os.getloadavg()[0]
    print(
        f"{RESOLUTION}x{RESOLUTION}, width {WIDTH}, z/w {LATENT}, {MAPPING_LAYERS} mapping layers, batch {args.batch},"
        f" R1 {R1_GAMMA} every {R1_INTERVAL}; CPU, {torch.get_num_threads()} thread(s), torch {torch.__version__}; "
        f"{'wall clock' if args.wall else 'per CPU-second'}; load {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores"
    )
    for side, (g, d) in counts.items():
        print(f"  {side:<9} G {g / 1e6:.3f} M  D {d / 1e6:.3f} M parameters")
    for kind in ("train", "sample"):
        if f"{kind} nvidia" in rates:
            nvidia, ganforge = rates[f"{kind} nvidia"], rates[f"{kind} ganforge"]
            print(
                f"{kind:>6}: nvidia {nvidia:8.1f} img/s   ganforge {ganforge:8.1f} img/s   ratio {ganforge / nvidia:.2f}x"
            )


if __name__ == "__main__":
    main()
