"""Mode coverage on stacked digits: train a GAN (DCGAN-32 unless --preset) for a fixed time budget, then count covered
modes out of 1000, the KL divergence of the mode histogram to uniform, the share of confidently classified channels
(and the same for the real data), and FID with the per-channel `digits-per-channel` extractor.

After training (outside the budget) the run's snapshots are scored too, the KL-vs-kimg curve of the run: modes over
--curve-num samples per snapshot (at most --curve-points snapshots, evenly spread on a log scale of kimg), printed as
a table and written as JSON lines next to the run (modes_curve.jsonl). The final checkpoint gets the full protocol (modes over --modes-num,
FID over --fid-num). Each run writes RESULTS/NAME-sSEED.json; --summarize RESULTS prints the table of all of them,
mean ± standard deviation over seeds per arm.

Reference (Stacked MNIST, Lin et al. 2018 PacGAN table): DCGAN 99 modes / KL 3.4; PacDCGAN2 1000 modes / KL 0.079.

    python bench/quality_stacked_digits.py --minutes 20 [--out runs-bench] [--preset stylegan2-32]
        [--set augment.policy=ada data.subset=500]
    python bench/quality_stacked_digits.py --cpu-minutes 30 --seeds 0,1,2 --name dcgan            # CPU-time budget
    python bench/quality_stacked_digits.py --cpu-minutes 30 --seeds 0 --name r3gan --preset r3gan-32-cpu \\
        --snapshot-kimg 2
    python bench/quality_stacked_digits.py --summarize bench/results/stacked_digits
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import time
from pathlib import Path

import torch

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.atomic import write_text
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
KEEP_ALL = 100000  # --keep: every snapshot stays, for the curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="training budget in wall-clock minutes (default: 20)")
    budget.add_argument(
        "--cpu-minutes", type=float, help="training budget in CPU minutes of the training process (one thread)"
    )
    parser.add_argument("--seeds", default="0", help="comma list of training seeds, run one after the other")
    parser.add_argument("--name", default="", help="the arm's name in outputs (default: the preset or dcgan)")
    parser.add_argument("--out", default="runs-bench", help="runs go to OUT/NAME-sSEED/")
    parser.add_argument("--results", default="bench/results/stacked_digits", help="folder of the per-run JSON results")
    parser.add_argument(
        "--modes-num", type=int, default=26000, help="generated images for mode counting (papers: 26000)"
    )
    parser.add_argument("--fid-num", type=int, default=10000)
    parser.add_argument("--snapshot-kimg", type=float, default=10.0, help="snapshot interval, the curve's step")
    parser.add_argument("--curve-points", type=int, default=8, help="snapshots scored for the curve (0: none)")
    parser.add_argument("--curve-num", type=int, default=10000, help="generated images per curve point")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--preset", help="start from a preset, e.g. stylegan2-32 (the model's own widths then apply)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. loss.name=hinge"
    )
    parser.add_argument("--summarize", metavar="RESULTS", help="only print the table of the results in this folder")
    args = parser.parse_args()
    if args.summarize:
        print(summary_table(load_results(Path(args.summarize))))
        return
    torch.set_num_threads(args.threads)
    name = args.name or args.preset or "dcgan"
    for seed in [int(s) for s in args.seeds.split(",")]:
        result = run_one(args, name, seed)
        path = Path(args.results) / f"{name}-s{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(result, indent=1) + "\n")
        print(f"result: {path}")


def run_one(args: argparse.Namespace, name: str, seed: int) -> dict:
    """Train one seed within the budget, score its snapshots (the curve) and its final checkpoint; the result row."""
    base = {"data.source": "stacked-digits", "data.resolution": 32} if args.preset else SETTINGS
    cpu_budget = args.cpu_minutes is not None
    overrides = {
        **base,
        "train.total_kimg": 100000,
        "train.snapshot_every_kimg": args.snapshot_kimg,
        "train.keep_checkpoints": KEEP_ALL,
        "train.minutes": args.cpu_minutes if cpu_budget else (args.minutes or 20.0),
        "train.minutes_clock": "cpu" if cpu_budget else "wall",
        "train.seed": seed,
        "train.out": str(Path(args.out) / f"{name}-s{seed}"),
    }
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _parse(value)
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = ganforge.train(overrides=overrides, preset=args.preset, progress=False, tensorboard=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load_after = os.getloadavg()[0]
    print(
        f"stacked-digits {name} seed {seed}: {cpu / 60:.1f} CPU min, {wall / 60:.1f} wall min of training "
        f"({result.kimg:.1f} kimg, {result.kimg * 1000 / cpu:.1f} img per CPU-s), load average {load_before:.1f} -> "
        f"{load_after:.1f}; settings: {shlex.join(f'{k}={v}' for k, v in overrides.items())}"
    )
    curve = mode_curve(result.run_dir, args.curve_points, args.curve_num)
    print(curve_table(curve))
    modes = ganforge.evaluate("stacked-digits", result.checkpoint, "modes", num=args.modes_num)["modes"]
    fid = ganforge.evaluate(
        "stacked-digits", result.checkpoint, "fid", extractor="digits-per-channel", num=args.fid_num
    )["fid"]
    print(f"generated: {describe(modes)}; FID(digits-per-channel) {fid:.3f}")
    if "real" in modes:
        print(f"real stacked digits, the floor: {describe(modes['real'])}")
    return {
        "arm": name,
        "seed": seed,
        "preset": args.preset,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "budget": {"minutes": overrides["train.minutes"], "clock": overrides["train.minutes_clock"]},
        "train_cpu_s": round(cpu, 1),
        "train_wall_s": round(wall, 1),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "kimg": round(result.kimg, 3),
        "run_dir": str(result.run_dir),
        "modes_num": args.modes_num,
        "modes": _modes_row(modes),
        "real_modes": _modes_row(modes["real"]) if "real" in modes else None,
        "fid_num": args.fid_num,
        "fid_digits_per_channel": fid,
        "curve_num": args.curve_num,
        "curve": curve,
    }


def pick(count: int, points: int) -> list[int]:
    """At most `points` indices of range(count), evenly spread on a log scale (a KL-vs-kimg curve changes fastest
    early), first and last included; all when count <= points."""
    if points <= 0 or count == 0:
        return []
    if count <= points:
        return list(range(count))
    if points == 1:
        return [count - 1]
    return sorted({round(count ** (i / (points - 1))) - 1 for i in range(points)})


def mode_curve(run_dir: Path, points: int, num: int) -> list[dict]:
    """Modes, KL and confident channels of `points` of the run's snapshots (EMA generator, `num` samples each),
    also appended to RUN/modes_curve.jsonl."""
    snapshots = ckpt.list_checkpoints(run_dir)
    rows = []
    for index in pick(len(snapshots), points):
        generator = ganforge.load(snapshots[index])  # read once: its kimg and the generator scored
        modes = ganforge.evaluate("stacked-digits", generator, "modes", num=num)["modes"]
        row = {"kimg": round(generator.kimg, 3), "num": num, **_modes_row(modes)}
        rows.append(row)
        with open(Path(run_dir) / "modes_curve.jsonl", "a") as log:
            log.write(json.dumps(row) + "\n")
    return rows


def _modes_row(report: dict) -> dict:
    return {
        "modes": report["covered"],
        "kl": round(report["kl"], 4),
        "confident_channels": round(report["confident_channels"], 4),
        "kl_confident_images": round(report["confident"]["kl"], 4),
    }


def curve_table(curve: list[dict]) -> str:
    lines = ["| kimg | modes | KL | confident channels |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['kimg']:.1f} | {r['modes']} | {r['kl']:.3f} | {r['confident_channels']:.1%} |" for r in curve]
    return "\n".join(lines)


def load_results(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def _mean_sd(values: list[float], spec: str, scale: float = 1.0) -> str:
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(statistics.stdev(values) * scale, spec)}"


def summary_table(results: list[dict]) -> str:
    """Per arm: mean ± standard deviation over its seeds of kimg, modes, KL, confident channels and FID."""
    arms: dict[str, list[dict]] = {}
    for result in results:
        arms.setdefault(result["arm"], []).append(result)
    lines = [
        "| arm | seeds | CPU min | kimg | modes | KL | confident channels | FID (d-p-c) | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for arm, rows in arms.items():
        loads = [x for r in rows for x in r["load_average"]]
        lines.append(
            f"| {arm} | {len(rows)} ({','.join(str(r['seed']) for r in rows)}) "
            f"| {_mean_sd([r['train_cpu_s'] for r in rows], '.1f', 1 / 60)} "
            f"| {_mean_sd([r['kimg'] for r in rows], '.0f')} "
            f"| {_mean_sd([r['modes']['modes'] for r in rows], '.0f')} "
            f"| {_mean_sd([r['modes']['kl'] for r in rows], '.3f')} "
            f"| {_mean_sd([r['modes']['confident_channels'] for r in rows], '.1f', 100)} % "
            f"| {_mean_sd([r['fid_digits_per_channel'] for r in rows], '.1f')} "
            f"| {min(loads):.1f}-{max(loads):.1f} |"
        )
    return "\n".join(lines)


def _parse(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


if __name__ == "__main__":
    main()
