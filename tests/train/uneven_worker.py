"""Run by torchrun in test_multinode: rank 1's data ends after 2 batches, rank 0's after 5 (a finite stream, as a
streaming dataset's can be); each rank then saves its parameters for comparison."""

import itertools
import os
import sys

import torch

import ganforge
from ganforge import dist
from ganforge.training import loop

torch.set_num_threads(1)
endless_batches = loop.batches


def uneven_batches(dataset, *args, rank: int = 0, **kwargs):
    """The real stream, cut short per rank; the dataset says its stream can end."""
    dataset.endless = False
    return itertools.islice(endless_batches(dataset, *args, rank=rank, **kwargs), 2 if rank == 1 else 5)


loop.batches = uneven_batches
out = sys.argv[1]
result = ganforge.train(
    overrides={
        "data.source": "digits",
        "data.resolution": 16,
        "model.g_channels": 8,
        "model.d_channels": 8,
        "train.batch": 16,
        "train.total_kimg": 1.0,
        "train.snapshot_every_kimg": 1,
        "train.grid_size": 4,
        "train.out": out,
    },
    progress=False,
    tensorboard=False,
)
rank = torch.distributed.get_rank()
torch.save(
    {
        f"{name}.{key}": value.detach().clone()
        for name, module in result.modules.items()
        for key, value in module.named_parameters()
    },
    f"{out}/rank{rank}.pt",
)
dist.shutdown()
os._exit(0)  # gloo ranks can abort at interpreter exit
