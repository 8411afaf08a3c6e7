"""Mode coverage on stacked digits: train the DCGAN for a fixed CPU time budget, then count covered modes out of
1000, the KL divergence of the mode histogram to uniform, the share of confidently classified channels (and the same
for the real data), and FID with the per-channel `digits-per-channel` extractor.

Reference (Stacked MNIST, Lin et al. 2018 PacGAN table): DCGAN 99 modes / KL 3.4; PacDCGAN2 1000 modes / KL 0.079.

    python bench/quality_stacked_digits.py --minutes 20 [--out runs-bench] [--preset stylegan2-32]
        [--set augment.policy=ada data.subset=500]
"""

from __future__ import annotations

import argparse
import shlex
import time

import ganforge
from ganforge.metrics.modes import describe

SETTINGS = {  # the run measured; --set KEY=VALUE overrides any of it
    "data.source": "stacked-digits",
    "data.resolution": 32,
    "model.g_channels": 32,
    "model.d_channels": 32,
    "train.batch": 64,
    "train.total_kimg": 100000,
    "train.snapshot_every_kimg": 100,
    "train.ema_kimg": 5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--out", default="runs-bench")
    parser.add_argument(
        "--modes-num", type=int, default=26000, help="generated images for mode counting (papers: 26000)"
    )
    parser.add_argument("--fid-num", type=int, default=10000)
    parser.add_argument("--preset", help="start from a preset, e.g. stylegan2-32 (the model's own widths then apply)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. loss.name=hinge"
    )
    args = parser.parse_args()
    base = {"data.source": "stacked-digits", "data.resolution": 32} if args.preset else SETTINGS
    overrides = {
        **base,
        "train.total_kimg": 100000,
        "train.snapshot_every_kimg": 100,
        "train.minutes": args.minutes,
        "train.out": args.out,
    }
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _parse(value)
    start = time.perf_counter()
    result = ganforge.train(overrides=overrides, preset=args.preset, progress=False)
    minutes = (time.perf_counter() - start) / 60
    modes = ganforge.evaluate("stacked-digits", result.checkpoint, "modes", num=args.modes_num)
    fid = ganforge.evaluate(
        "stacked-digits", result.checkpoint, "fid", extractor="digits-per-channel", num=args.fid_num
    )
    print(
        f"stacked-digits {args.preset or 'DCGAN'}, {minutes:.1f} min training ({result.kimg:.0f} kimg), settings: "
        f"{shlex.join(f'{k}={v}' for k, v in overrides.items())}"
    )
    print(f"generated: {describe(modes['modes'])}; FID(digits-per-channel) {fid['fid']:.3f}")
    if "real" in modes["modes"]:
        print(f"real stacked digits, the floor: {describe(modes['modes']['real'])}")


def _parse(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


if __name__ == "__main__":
    main()
