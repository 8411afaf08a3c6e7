"""Where ganforge stands on this device, in one command: training img/s, s/kimg, peak memory and MFU for each preset
in each precision the device supports (eager; --compile and channels_last off for the main cases), and inference
img/s of `sample` (noise-to-image) and `translate` (image-to-image) eager, compiled and through onnxruntime's CUDA
provider when installed. FLOPs come from the real modules (ganforge.training.flops); MFU divides them by the device's
dense peak for the precision (a table of known GPUs; on a CPU, the measured matmul roofline). Each case has a time
cap and the whole suite a budget, so it fits one call of a few minutes; cases past the budget are listed as skipped.

  python bench/gpu_suite.py                 # on a GPU: the full table (about 8 minutes on one H100/H200)
  python bench/gpu_suite.py --quick         # CPU smoke run (tiny sizes, fp32), about a minute
Writes bench/results/gpu_suite.json and .md (or --out)."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import matmul_gflops, synchronize  # noqa: E402

from ganforge import models  # noqa: E402
from ganforge.config import PRESETS, resolve  # noqa: E402
from ganforge.training.flops import PAPER_MFU, iteration_flops, seconds_per_kimg, synthetic_trainer  # noqa: E402

# Dense (no sparsity) peak TFLOP/s by precision, from the vendors' data sheets; "tf32" is fp32 math on tensor cores.
PEAK_TFLOPS = {
    "H200": {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9},  # SXM
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
    "L40S": {"bf16": 362.1, "fp16": 362.1, "tf32": 183.0, "fp32": 91.6},
    "L4": {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3},
    "V100": {"fp16": 125.0, "fp32": 15.7},  # SXM2; no bf16, no tf32
    "T4": {"fp16": 65.0, "fp32": 8.1},
}


@dataclass(frozen=True)
class Case:
    name: str  # preset name in the table
    overrides: dict  # config overrides (dotted keys)
    quick: dict  # what --quick changes (tiny sizes)
    inference: str  # "sample" or "translate"


STYLEGAN2_256 = {
    **PRESETS["stylegan2-256"].overrides(),
    "train.batch": 64,
}  # NVIDIA's paper256: width 16384/res, cap 512
CASES = [
    Case(
        "dcgan-64",
        {"model.name": "dcgan", "data.resolution": 64, "train.batch": 64},
        {"data.resolution": 16, "train.batch": 8, "model.g_channels": 8, "model.d_channels": 8},
        "sample",
    ),
    Case(
        "stylegan2-256",
        STYLEGAN2_256,
        {
            "data.resolution": 16,
            "train.batch": 4,
            "model.g_channels": 8,
            "model.d_channels": 8,
            "model.max_channels": 16,
            "model.z_dim": 16,
            "model.w_dim": 16,
            "model.mapping_layers": 2,
        },
        "sample",
    ),
    Case(
        "stylegan2-1024",
        {
            **PRESETS["stylegan2-1024"].overrides(),
            "model.mixed_resolutions": 4,
            "train.batch": 8,
        },  # 4 top res in fp16/bf16; 8 a GPU (NVIDIA: 4 a GPU)
        {
            "data.resolution": 32,
            "train.batch": 2,
            "model.g_channels": 4,
            "model.d_channels": 4,
            "model.max_channels": 8,
            "model.z_dim": 16,
            "model.w_dim": 16,
            "model.mapping_layers": 2,
        },
        "sample",
    ),
    Case(
        "pix2pix-256",
        {"model.name": "pix2pix", "data.resolution": 256, "train.batch": 16},
        {"data.resolution": 16, "train.batch": 2, "model.g_channels": 4, "model.d_channels": 4},
        "translate",
    ),
    Case(
        "cyclegan-256",
        {"model.name": "cyclegan", "data.resolution": 256, "train.batch": 4, "model.g_arch": "resnet_9blocks"},
        {"data.resolution": 16, "train.batch": 2, "model.g_channels": 4, "model.d_channels": 4},
        "translate",
    ),
]
if "r3gan" in models.MODELS:  # the family another change adds; measured once it is registered
    CASES.append(
        Case(
            "r3gan-256",
            {"model.name": "r3gan", "data.resolution": 256, "train.batch": 64, "loss.name": "rpgan"},
            {"data.resolution": 16, "train.batch": 4, "model.g_channels": 8, "model.d_channels": 8},
            "sample",
        )
    )


@dataclass
class Budget:
    """The suite's wall-clock budget; each case gets at most `case_s` of timed steps."""

    total_s: float
    case_s: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.total_s - (time.monotonic() - self.start)


def device_peak(device: torch.device, precision: str, tf32: bool) -> tuple[float, str]:
    """(peak FLOP/s, where it comes from) for `precision` on `device`: the table for a known GPU, else the measured
    matmul roofline (CPUs, unknown GPUs)."""
    math_kind = "tf32" if precision == "fp32" and tf32 and device.type == "cuda" else precision
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peaks in PEAK_TFLOPS.items():  # "H100 PCIe" before "H100"
            if key in name and math_kind in peaks:
                return peaks[math_kind] * 1e12, f"{key} data sheet, {math_kind} dense"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    size = 4096 if device.type == "cuda" else 1024
    return matmul_gflops(size=size, repeats=5, device=str(device), dtype=dtype) * 1e9, f"measured {precision} matmul"


def precisions(device: torch.device, quick: bool) -> list[str]:
    """fp32, and bf16/fp16 where the device runs them in hardware (all three on CUDA GPUs with bf16)."""
    if quick or device.type != "cuda":
        return ["fp32"]
    return ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def time_steps(step, images_per_step: int, cap_s: float, warmup: int, min_steps: int = 2) -> tuple[float, int]:
    """img/s of `step` after `warmup` calls, timing calls until `cap_s` seconds (at least `min_steps`)."""
    for _ in range(warmup):
        step()
    synchronize()
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < cap_s:
        step()
        steps += 1
        synchronize()
    return images_per_step * steps / (time.perf_counter() - start), steps


def train_case(
    case: Case, settings: dict, device: torch.device, budget: Budget, quick: bool, flops_cache: dict
) -> dict:
    """One training measurement: img/s, s/kimg, peak memory, FLOPs per image, MFU."""
    cfg = resolve({**case.overrides, **(case.quick if quick else {}), **settings, "train.device": str(device)})
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    trainer, stream = synthetic_trainer(cfg, device)
    images_per_iter = cfg.train.batch * cfg.optim.d_steps
    if case.name not in flops_cache:  # model FLOPs do not depend on precision, compilation or memory format
        flops_cache[case.name] = iteration_flops(trainer, stream) / images_per_iter
    warmup = 3 if cfg.train.compile else 1
    rate, steps = time_steps(
        lambda: trainer.iteration(stream), images_per_iter, min(budget.case_s, budget.left()), warmup=warmup
    )
    peak, peak_source = device_peak(device, cfg.train.precision, cfg.train.tf32)
    flops_per_image = flops_cache[case.name]
    return {
        "img_per_s": round(rate, 2),
        "s_per_kimg": round(1000 / rate, 2),
        "steps_timed": steps,
        "peak_memory_mib": round(peak_memory_mib(device), 1),
        "gflops_per_image": round(flops_per_image / 1e9, 3),
        "mfu": round(flops_per_image * rate / peak, 4),
        "peak_tflops": round(peak / 1e12, 3),
        "peak_source": peak_source,
        "paper_s_per_kimg_at_40pct": round(seconds_per_kimg(flops_per_image, peak, PAPER_MFU), 2),
    }


def inference_case(case: Case, device: torch.device, budget: Budget, quick: bool, mode: str) -> dict:
    """img/s of the generator alone (EMA copy, eval, no grad): eager, compiled, or onnxruntime's CUDA provider."""
    cfg = resolve({**case.overrides, **(case.quick if quick else {}), "train.device": str(device)})
    trainer, stream = synthetic_trainer(cfg, device)
    G = trainer.ema["G"].eval()
    batch = cfg.train.batch
    if case.inference == "sample":
        inputs = (torch.randn(batch, cfg.model.z_dim, device=device),)
    else:
        inputs = (torch.rand(batch, 3, cfg.data.resolution, cfg.data.resolution, device=device) * 2 - 1,)
    kwargs = {"direction": "a2b"} if cfg.model.name == "cyclegan" else {}
    if mode == "onnxruntime-cuda":
        return onnx_case(G, inputs, kwargs, batch, budget)
    module = torch.compile(G) if mode == "compiled" else G
    with torch.no_grad():
        rate, _ = time_steps(
            lambda: module(*inputs, **kwargs),
            batch,
            min(budget.case_s / 2, budget.left()),
            warmup=3 if mode == "compiled" else 1,
        )
    return {"img_per_s": round(rate, 2)}


def onnx_case(G, inputs, kwargs, batch: int, budget: Budget) -> dict:
    """onnxruntime with the CUDA provider, when installed with it; a reason otherwise."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {"skipped": "onnxruntime not installed"}
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return {"skipped": "onnxruntime without the CUDA provider"}
    import io

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.G = G

        def forward(self, x):
            return self.G(x, **kwargs)

    buffer = io.BytesIO()
    torch.onnx.export(Wrapped(), inputs, buffer, input_names=["x"], output_names=["images"], dynamo=False)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CUDAExecutionProvider"])
    feed = {"x": inputs[0].float().cpu().numpy()}
    rate, _ = time_steps(lambda: session.run(["images"], feed), batch, min(budget.case_s / 2, budget.left()), warmup=2)
    return {"img_per_s": round(rate, 2), "note": "host input and output copies included"}


def training_matrix(device: torch.device, quick: bool) -> list[tuple[Case, str, dict]]:
    """(case, label, settings): every preset in every precision (eager, default memory format), then --compile and
    channels_last off for the cases where they matter most."""
    matrix = [
        (case, precision, {"train.precision": precision}) for case in CASES for precision in precisions(device, quick)
    ]
    if not quick:
        main = "bf16" if "bf16" in precisions(device, quick) else "fp32"
        for name in ("dcgan-64", "stylegan2-256"):
            case = next(c for c in CASES if c.name == name)
            matrix.append((case, f"{main} --compile", {"train.precision": main, "train.compile": True}))
            matrix.append((case, f"{main} contiguous", {"train.precision": main, "train.channels_last": False}))
    return matrix


def environment(device: torch.device) -> dict:
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "device": str(device),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info |= {
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "driver": _driver_version(),
            "tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    else:
        info |= {"cpu": platform.processor() or platform.machine(), "load_average": list(_load())}
    return info


def _driver_version() -> str:
    try:
        import subprocess

        return subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load() -> tuple[float, float, float]:
    import os

    return os.getloadavg()


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"# ganforge GPU suite: {env.get('gpu', env.get('cpu'))}",
        "",
        " · ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "## Training",
        "",
        "| preset | setting | img/s | s/kimg | peak MiB | GFLOP/img | MFU | peak TFLOP/s | s/kimg at 40 % MFU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["training"]:
        if "skipped" in row or "error" in row:
            lines.append(f"| {row['preset']} | {row['setting']} | {row.get('skipped') or row.get('error')} |||||||")
            continue
        lines.append(
            f"| {row['preset']} | {row['setting']} | {row['img_per_s']} | {row['s_per_kimg']} | "
            f"{row['peak_memory_mib']} | {row['gflops_per_image']} | {row['mfu']:.1%} | {row['peak_tflops']} | "
            f"{row['paper_s_per_kimg_at_40pct']} |"
        )
    lines += ["", "## Inference", "", "| preset | command | mode | img/s |", "|---|---|---|---:|"]
    for row in results["inference"]:
        lines.append(
            f"| {row['preset']} | {row['command']} | {row['mode']} | "
            f"{row.get('img_per_s', row.get('skipped') or row.get('error'))} |"
        )
    return "\n".join(lines) + "\n"


def run(quick: bool, budget_s: float, case_s: float, device: torch.device) -> dict:
    budget = Budget(budget_s, case_s)
    results = {"environment": environment(device), "quick": quick, "training": [], "inference": []}
    flops_cache: dict = {}
    for case, label, settings in training_matrix(device, quick):
        row = {"preset": case.name, "setting": label}
        if budget.left() < 5:
            row["skipped"] = "suite budget spent"
        else:
            try:
                row |= train_case(case, settings, device, budget, quick, flops_cache)
            except Exception as error:  # one failing case (e.g. out of memory) must not lose the others
                row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        results["training"].append(row)
        print(json.dumps(row), flush=True)
    modes = ["eager"] if quick else ["eager", "compiled", "onnxruntime-cuda"]
    for case in CASES:
        for mode in modes:
            row = {"preset": case.name, "command": case.inference, "mode": mode}
            if budget.left() < 5:
                row["skipped"] = "suite budget spent"
            else:
                try:
                    row |= inference_case(case, device, budget, quick, mode)
                except Exception as error:
                    row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            results["inference"].append(row)
            print(json.dumps(row), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: tiny sizes, fp32, eager, about a minute")
    parser.add_argument("--budget-s", type=float, default=None, help="wall-clock budget (default 420, quick 60)")
    parser.add_argument("--case-s", type=float, default=None, help="timed seconds per case (default 8, quick 2)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent / "results" / "gpu_suite"),
        help="path without extension for the .json and .md",
    )
    args = parser.parse_args()
    budget_s = args.budget_s or (60.0 if args.quick else 420.0)
    case_s = args.case_s or (2.0 if args.quick else 8.0)
    results = run(args.quick, budget_s, case_s, torch.device(args.device))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
