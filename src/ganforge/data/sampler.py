"""Deterministic, resumable batch order: epoch-wise permutations from (seed, epoch), each rank its slice."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from .base import ImageDataset


def preview_indices(num_items: int, count: int, seed: int = 0) -> torch.Tensor:
    """`count` (at most `num_items`) distinct indices drawn at random for `seed`, for preview grids (reals.png,
    translation grids): a sample of the whole dataset, not its first files in sorted order (which may all be of one
    kind, e.g. one class folder)."""
    return torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))[: max(0, count)]


def batch_indices(
    num_items: int,
    global_batch: int,
    seed: int,
    start_batch: int,
    rank: int = 0,
    world: int = 1,
    epoch_order: Callable[[int, int], torch.Tensor] | None = None,
) -> Iterator[torch.Tensor]:
    """Endless index batches for one rank, starting at global batch `start_batch`; depends only on the arguments.

    The items are read in the order of epoch 0, then epoch 1, ...: `epoch_order(seed, epoch)`, a permutation of
    range(num_items) (default: a uniform one). Rank r takes slice r of every global batch, so the global order, and
    the position `start_batch * global_batch` in it, do not depend on the number of ranks or loader workers."""
    per_rank = global_batch // world
    position = start_batch * global_batch  # global position in the endless concatenation of permutations
    epoch, order = -1, torch.empty(0, dtype=torch.long)
    while True:
        picked = []
        for offset in range(rank * per_rank, (rank + 1) * per_rank):
            item_epoch, item_pos = divmod(position + offset, num_items)
            if item_epoch != epoch:
                epoch = item_epoch
                order = (
                    epoch_order(seed, epoch)
                    if epoch_order is not None
                    else torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
                )
            picked.append(order[item_pos])
        position += global_batch
        yield torch.stack(picked)


class _BatchView(Dataset):
    """Lets a DataLoader fetch a whole index batch per call (batch_size=None)."""

    def __init__(self, dataset: ImageDataset):
        self.dataset = dataset

    def __getitem__(self, indices: torch.Tensor):
        return self.dataset.batch(indices)


def batches(
    dataset: ImageDataset,
    global_batch: int,
    seed: int,
    start_batch: int,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (uint8 images [B, C, H, W], labels [B]) for one rank; worker processes decode in parallel.
    A dataset with its own `index_batches` (unpaired data: two sides shuffled independently) draws its indices."""
    if hasattr(dataset, "index_batches"):
        indices = dataset.index_batches(global_batch, seed, start_batch, rank, world)
    else:
        indices = batch_indices(len(dataset), global_batch, seed, start_batch, rank, world)
    if workers == 0:  # pinned on a CUDA machine, so that the copy to the GPU is asynchronous (non_blocking)
        pin = torch.cuda.is_available()
        return (tuple(t.pin_memory() for t in dataset.batch(i)) if pin else dataset.batch(i) for i in indices)
    loader = DataLoader(
        _BatchView(dataset),
        sampler=indices,
        batch_size=None,
        num_workers=workers,
        persistent_workers=True,
        prefetch_factor=4,
        pin_memory=torch.cuda.is_available(),
    )
    return iter(loader)
