"""Run by torchrun in test_ddp: trains a tiny model, then each rank saves its parameters for comparison."""

import sys

import torch

import ganforge
from ganforge import dist

torch.set_num_threads(1)
out, model = sys.argv[1], sys.argv[2]
styles = {
    "model.name": "stylegan2",
    "model.w_dim": 16,
    "model.z_dim": 16,
    "model.mapping_layers": 2,
    "model.style_mixing": 0.9,
    "loss.pl_weight": 2.0,
    "loss.pl_interval": 2,
    "loss.r1_interval": 2,
}
growing = {**styles, "model.progressive": True, "train.phase_kimg": 0.016}  # 8 px, fade in 16 px, 16 px
paired = {"model.name": "pix2pix", "data.source": "shapes-edges", "data.jitter": True, "data.mirror": True}
unpaired = {
    "model.name": "cyclegan",
    "data.source": "digits-stylized",
    "data.mirror": True,
    "loss.r1_gamma": 0.0,
    "augment.policy": "none",
}  # CycleGAN: its paper's losses only
result = ganforge.train(
    overrides={
        "data.source": "shapes",
        "data.resolution": 16,
        "model.g_channels": 8,
        "model.d_channels": 8,
        "train.batch": 16,
        "train.total_kimg": 0.064,
        "train.snapshot_every_kimg": 1,
        "train.grid_size": 4,
        "loss.r1_gamma": 1.0,
        "augment.policy": "diffaug",
        "train.out": out,
        **(paired if model == "pix2pix" else {}),
        **{"stylegan2": styles, "stylegan2-progressive": growing, "cyclegan": unpaired}.get(model, {}),
    },
    progress=False,
)
rank = torch.distributed.get_rank()
params = {
    f"{name}.{key}": value.detach().clone()
    for name, module in result.modules.items()
    for key, value in module.named_parameters()
}
torch.save(params, f"{out}/rank{rank}.pt")
dist.shutdown()
import os  # noqa: E402

os._exit(0)  # gloo ranks can abort at interpreter exit
