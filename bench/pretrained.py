"""Pretrained NVIDIA networks in ganforge: import time and peak memory of an FFHQ-1024-shaped network pickle (random
weights, G + G_ema + D, about 30 M parameters per generator), and sampling seconds per image at 256 and 1024 px for
PyTorch and onnxruntime (CPU seconds, one thread), beside NVIDIA's own code (its reference path on the CPU) when a
checkout is given.

    python bench/pretrained.py [--nvidia /tmp/nv-sg2] [--num 2] [--resolutions 256,1024] [--skip-onnx] [--import-only]

The pickle is written in NVIDIA's file format (torch_utils.persistence records with their constructor arguments)
by a stand-in persistence module here, with no NVIDIA code. Import runs `ganforge import` in a fresh process;
its peak resident memory is reported beyond that of a process that only imported ganforge and torch, against the
file's size and against G's own size (its state dict in fp32; issue 29's budget is 2x that).
NVIDIA's code (e.g. a checkout of NVlabs/stylegan2-ada-pytorch, whose `dnnlib` may need `import requests`
stubbed out) is only imported in a subprocess to time its Generator with the same weights (force_fp32).
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch
from torch import nn

from ganforge.models.nvidia_sg2 import NvidiaDiscriminator, NvidiaGenerator

# NVIDIA's configurations (stylegan2-ada-pytorch train.py cfg_specs): FFHQ 1024 ('stylegan2') and 256 ('paper256')
CONFIGS = {
    1024: {"channel_base": 32768, "map": 8},
    256: {"channel_base": 16384, "map": 8},
}


def kwargs_for(resolution: int) -> tuple[dict, dict]:
    spec = CONFIGS[resolution]
    common = {"channel_base": spec["channel_base"], "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}
    g = {
        "z_dim": 512,
        "c_dim": 0,
        "w_dim": 512,
        "img_resolution": resolution,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": spec["map"]},
        "synthesis_kwargs": {**common, "architecture": "skip"},
    }
    d = {
        "c_dim": 0,
        "img_resolution": resolution,
        "img_channels": 3,
        "architecture": "resnet",
        **common,
        "block_kwargs": {},
        "mapping_kwargs": {},
        "epilogue_kwargs": {"mbstd_group_size": 4},
    }
    return g, d


# ---- writing NVIDIA's format without NVIDIA's code ------------------------------------------------------------------
def _reconstruct_persistent_obj(meta):  # pickled by name only, as torch_utils.persistence._reconstruct_persistent_obj
    raise AssertionError("never called")


class _Record:
    """Pickles a module as NVIDIA's persistence does: (_reconstruct_persistent_obj, ({class_name, state, ...},))."""

    def __init__(self, module: nn.Module, init_kwargs: dict | None):
        self.module, self.init_kwargs = module, init_kwargs

    def __reduce__(self):
        state = {
            "training": False,
            "_parameters": dict(self.module._parameters),
            "_buffers": dict(self.module._buffers),
            "_modules": {n: _Record(m, None) for n, m in self.module._modules.items()},
            "_init_args": (),
            "_init_kwargs": self.init_kwargs or {},
        }
        return _reconstruct_persistent_obj, (
            {
                "type": "class",
                "version": 6,
                "module_src": "# not stored",
                "class_name": type(self.module).__name__.replace("Nvidia", ""),
                "state": state,
            },
        )


def write_network_pickle(path: Path, resolution: int) -> tuple[int, int]:
    """A random-weight network snapshot as NVIDIA's training loop saves it; returns G's parameter count and the
    bytes of its state dict (parameters and buffers)."""
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    sys.modules.setdefault("torch_utils", types.ModuleType("torch_utils"))
    sys.modules["torch_utils.persistence"] = module
    g_kwargs, d_kwargs = kwargs_for(resolution)
    with torch.no_grad():
        G, D = NvidiaGenerator(**g_kwargs).eval(), NvidiaDiscriminator(**d_kwargs).eval()
        snapshot = {
            "training_set_kwargs": {"path": "ffhq.zip"},
            "G": _Record(G, g_kwargs),
            "D": _Record(D, d_kwargs),
            "G_ema": _Record(copy.deepcopy(G), g_kwargs),
            "augment_pipe": None,
        }
        with open(path, "wb") as handle:
            pickle.dump(snapshot, handle, protocol=3)  # Python 3.7's default, as NVIDIA's released pickles
    return sum(p.numel() for p in G.parameters()), sum(t.nbytes for t in G.state_dict().values())


# ---- measurements ---------------------------------------------------------------------------------------------------
def _run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited from the parent at fork + exec)
MAXRSS = (
    "import json, re\nrss = lambda: int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1]) * 1024\n"
)


def import_figures(pickle_path: Path, out: Path) -> dict:
    """Seconds and peak resident bytes of `ganforge.import_model`, beyond a process that imported ganforge and torch
    (`peak_bytes`), and beyond one that has also imported the modules the import uses (`data_bytes`: the weights
    and buffers; the modules' code, scipy for the StyleGAN3 family among them, is a constant `code_bytes`)."""
    code = MAXRSS + (
        f"import time, ganforge, torch\nbase = rss()\n"
        f"import ganforge.artifacts.export, ganforge.artifacts.foreign.nvidia, ganforge.models\n"
        f"code = rss()\nstart = time.perf_counter()\n"
        f"ganforge.import_model({str(pickle_path)!r}, {str(out)!r})\n"
        f"print(json.dumps({{'seconds': time.perf_counter() - start, 'peak_bytes': rss() - base, "
        f"'data_bytes': rss() - code, 'code_bytes': code - base}}))"
    )
    return _run_python(code)


def sampling_seconds(pickle_path: Path, num: int, backend: str) -> float:
    """CPU seconds per image (one thread, so the machine's other load does not dilute it), batch 1, constant noise,
    after one warm-up image."""
    code = (
        f"import time, json, torch\ntorch.set_num_threads(1)\nfrom ganforge.artifacts.backend import open_generator\n"
        f"g = open_generator({str(pickle_path)!r}, backend={backend!r}, threads=1)\n"
        f"z = g.latents(range({num + 1}))\ng.synthesize(z[:1], batch_size=1)\nstart = time.process_time()\n"
        f"g.synthesize(z[1:], batch_size=1)\n"
        f"print(json.dumps({{'seconds': (time.process_time() - start) / {num}}}))"
    )
    return _run_python(code)["seconds"]


def nvidia_seconds(nvidia: Path, pickle_path: Path, resolution: int, num: int) -> tuple[float, float]:
    """Seconds per image of NVIDIA's Generator (reference path on the CPU, fp32) with the same weights, and the max
    |difference| of its images from ganforge's."""
    g_kwargs, _ = kwargs_for(resolution)
    code = (
        f"import sys, time, json, torch\nsys.path.insert(0, {str(nvidia)!r})\ntorch.set_num_threads(1)\n"
        f"from training.networks import Generator\nimport ganforge\n"
        f"ours = ganforge.load({str(pickle_path)!r})\n"
        f"G = Generator(**json.loads({json.dumps(json.dumps(g_kwargs))})).eval()\n"
        f"G.load_state_dict(ours.module.state_dict())\n"
        f"z = ours.latents(range({num + 1}))\n"
        f"with torch.no_grad():\n"
        f"    G(z[:1], None, noise_mode='const', force_fp32=True)\n"
        f"    start = time.process_time()\n"
        f"    theirs = torch.cat([G(z[i:i + 1], None, noise_mode='const', force_fp32=True)\n"
        f"                        for i in range(1, {num + 1})])\n"
        f"    seconds = (time.process_time() - start) / {num}\n"
        f"    diff = (ours.synthesize(z[1:], batch_size=1) - theirs).abs().max().item()\n"
        f"print(json.dumps({{'seconds': seconds, 'diff': diff}}))"
    )
    result = _run_python(code)
    return result["seconds"], result["diff"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia", type=Path, default=None, help="a stylegan2-ada-pytorch checkout (optional)")
    parser.add_argument("--num", type=int, default=2, help="images timed per backend and resolution")
    parser.add_argument("--resolutions", default="256,1024")
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument("--import-only", action="store_true", help="measure the import only, no sampling")
    args = parser.parse_args()
    resolutions = [int(r) for r in args.resolutions.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for resolution in resolutions:
            path = Path(tmp) / f"ffhq-{resolution}.pkl"
            params, g_bytes = write_network_pickle(path, resolution)
            size = path.stat().st_size
            print(
                f"{resolution} px: G {params / 1e6:.1f} M parameters ({g_bytes / 2**20:.0f} MiB); pickle (G, G_ema, "
                f"D) {size / 2**20:.0f} MiB"
            )
            figures = import_figures(path, Path(tmp) / f"imported-{resolution}")
            peak, data = figures["peak_bytes"], figures["data_bytes"]
            print(
                f"  import: {figures['seconds']:.1f} s, peak memory {peak / 2**20:.0f} MiB ({peak / g_bytes:.2f}x G, "
                f"{peak / size:.2f}x the file); without the {figures['code_bytes'] / 2**20:.0f} MiB of modules it "
                f"imports: {data / 2**20:.0f} MiB ({data / g_bytes:.2f}x G)"
            )
            if args.import_only:
                continue
            rows = {"ganforge torch": sampling_seconds(path, args.num, "torch")}
            if not args.skip_onnx:
                rows["ganforge onnxruntime"] = sampling_seconds(path, args.num, "onnxruntime")
            if args.nvidia:
                rows["NVIDIA reference path"], diff = nvidia_seconds(args.nvidia, path, resolution, args.num)
                print(f"  max |ganforge - NVIDIA| over {args.num} images: {diff:.2e}")
            base = rows["ganforge torch"]
            for name, seconds in rows.items():
                print(f"  {name:<24} {seconds:7.2f} s/img  ({seconds / base:.2f}x ganforge torch)")


if __name__ == "__main__":
    main()
