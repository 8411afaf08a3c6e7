"""torchrun + DistributedDataParallel plumbing: rank info from the environment, device choice, clean shutdown."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from .errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0  # global rank
    world: int = 1  # number of processes
    local_rank: int = 0  # rank on this node (selects the GPU)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def select_device(requested: str, local_rank: int = 0) -> torch.device:
    """'auto' -> this rank's GPU if any, else Apple MPS, else CPU; explicit devices are checked."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {requested}: no CUDA GPU is available; use --device cpu")
        return torch.device(requested) if ":" in requested else torch.device("cuda", local_rank)
    return torch.device(requested)


def configure_backends(device: torch.device, tf32: bool, fixed_shapes: bool) -> None:
    """GPU math settings for a run: TF32 for fp32 matmuls/convolutions (`tf32`), and cuDNN's autotuner when every
    step has the same shapes (`fixed_shapes`: it re-tunes at each new shape). Nothing on other devices."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = fixed_shapes


def init(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU); else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if info.is_main and restarts_share_a_store():
        warnings.warn(
            "torchrun --max-restarts: also set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 where torchrun runs; "
            "with the rendezvous's shared store, restarted ranks read the previous attempt's addresses "
            "and cannot connect"
        )
    if not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return info


def restarts_share_a_store() -> bool:
    """True when torchrun may restart this job (--max-restarts > 0) with its rendezvous store shared by every
    attempt: the keys each attempt's process group writes there survive into the next, whose ranks then try to
    connect to the previous attempt's (dead) addresses. TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 gives each attempt
    a fresh store."""
    return (
        int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0
        and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    )


def rank_and_world() -> tuple[int, int]:
    """(global rank, number of ranks) from torchrun's environment; (0, 1) in a single process."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_rank_zero() -> bool:
    """True in a single process and on torchrun's rank 0; readable before the process group is set up."""
    return rank_and_world()[0] == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier() -> None:
    if torch_dist.is_initialized():
        torch_dist.barrier()


def broadcast_object(value, src: int = 0):
    """Rank `src`'s value on every rank (e.g. the run directory)."""
    if not torch_dist.is_initialized():
        return value
    holder = [value]
    torch_dist.broadcast_object_list(holder, src=src)
    return holder[0]


def any_rank(flag: torch.Tensor) -> bool:
    """True if `flag` (a 0-d bool/int tensor) is set on any rank; one host sync."""
    return bool(all_reduce_max(flag.to(torch.int32)))


def until_any_ends(stream: Iterator, device: torch.device) -> Iterator:
    """`stream`'s items while every rank still has one: before each item the ranks learn (one all-reduce) whether
    any rank's stream has ended, and all end together, so no rank waits forever in a collective for one that left
    (what DDP's Join does for a single model, here for a loop with several models and its own all-reduces)."""
    while True:
        item = next(stream, None)
        if any_rank(torch.tensor(item is None, device=device)):
            return
        yield item


def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's `tensor`, stacked in rank order: [world, *shape] ([1, *shape] in a single process)."""
    if not torch_dist.is_initialized():
        return tensor.unsqueeze(0).clone()
    parts = [torch.empty_like(tensor) for _ in range(torch_dist.get_world_size())]
    torch_dist.all_gather(parts, tensor.contiguous())
    return torch.stack(parts)


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor`'s elementwise maximum over ranks, in place (unchanged in a single process); no host sync."""
    if torch_dist.is_initialized():
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
    return tensor


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over ranks, in place (unchanged in a single process); no host sync."""
    if torch_dist.is_initialized():
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
    return tensor


def shutdown() -> None:
    """Leave the process group cleanly (barrier, then destroy)."""
    if torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
