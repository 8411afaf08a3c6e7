"""No host syncs in a training step: between two log rows an iteration of every family reads nothing from the
device (no .item(), float(tensor), .tolist(), .cpu(), no branch on a tensor), and a log row reads once.

On a CPU every tensor lives on the host, so the probe tells device values from host values by where they come
from: a tensor that torch makes without a device argument (Adam's step counters, the CPU random draws of style
mixing) and whatever is computed from such tensors only stays on the host on a GPU too, and reading it costs no
sync; everything else (parameters, data moved to the device, draws made with device=...) is a device value.
Data-dependent ops that sync on a GPU without a Python-level read (nonzero, masked_select, unique) count too.
On a GPU, tests/test_cuda.py runs the same steps under torch.cuda.set_sync_debug_mode("error")."""

from __future__ import annotations

import traceback

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from ganforge.training import loop, train

Tensor = torch.Tensor
HOST_READS = {
    Tensor.item,
    Tensor.tolist,
    Tensor.__bool__,
    Tensor.__float__,
    Tensor.__int__,
    Tensor.__index__,
    Tensor.cpu,
    Tensor.numpy,
}
FACTORIES = {
    torch.tensor,
    torch.as_tensor,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
    torch.zeros,
    torch.ones,
    torch.full,
    torch.empty,
    torch.arange,
}
MOVES = {Tensor.to, Tensor.cuda}
SYNCING_OPS = {
    torch.ops.aten.nonzero.default,
    torch.ops.aten.masked_select.default,
    torch.ops.aten._unique2.default,
    torch.ops.aten.unique_consecutive.default,
}


def _where() -> str:
    """The innermost ganforge frame of the current stack, for failure messages."""
    frames = [f for f in traceback.extract_stack() if "/ganforge/" in f.filename]
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} {frames[-1].line}" if frames else "?"


class HostReads(TorchFunctionMode):
    """Records every host read of a device value (see the module docstring) while `active`."""

    def __init__(self):
        super().__init__()
        self.host = WeakIdKeyDictionary()  # tensors that live on the host on a GPU too
        self.reads: list[str] = []
        self.active = True

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.active:
            return out
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)]
        if func in HOST_READS:
            if not all(t in self.host for t in tensors):
                self.reads.append(f"{func.__name__}: {_where()}")
        elif func in FACTORIES:
            if kwargs.get("device") in (None, "cpu") and all(t in self.host for t in tensors):
                self._mark(out)
        elif func in MOVES:
            if not any(isinstance(a, (torch.device, str)) for a in (*args[1:], *kwargs.values())):
                self._mark(out) if tensors and all(t in self.host for t in tensors) else None
        elif tensors and all(t in self.host for t in tensors):
            self._mark(out)
        return out

    def _mark(self, out) -> None:
        for tensor in tree_leaves(out):
            if isinstance(tensor, Tensor):
                self.host[tensor] = True


class SyncingOps(TorchDispatchMode):
    """Records data-dependent ops whose output size needs the device's answer."""

    def __init__(self, probe: HostReads):
        super().__init__()
        self.probe = probe

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNCING_OPS and self.probe.active:
            self.probe.reads.append(f"{func}: {_where()}")
        return func(*args, **(kwargs or {}))


STYLE = {
    "model.name": "stylegan2",
    "model.w_dim": 16,
    "model.z_dim": 16,
    "model.mapping_layers": 2,
    "loss.r1_gamma": 0.1,
    "loss.r1_interval": 2,
}
FAMILIES = {
    "dcgan": {"augment.policy": "diffaug", "data.mirror": True, "loss.r1_gamma": 1.0},
    "stylegan2": {**STYLE, "model.style_mixing": 0.9, "loss.pl_weight": 2.0, "loss.pl_interval": 2},
    "stylegan2-ada": {**STYLE, "augment.policy": "ada", "augment.ada_kimg": 0.1},
    "pix2pix": {
        "model.name": "pix2pix",
        "data.source": "shapes-edges",
        "data.jitter": True,
        "data.mirror": True,
        "augment.policy": "diffaug",
        "train.batch": 8,
    },
    "cyclegan": {
        "model.name": "cyclegan",
        "data.source": "digits-stylized",
        "model.g_channels": 4,
        "model.d_channels": 4,
        "train.batch": 4,
        "data.jitter": True,
        "data.mirror": True,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_training_steps_read_nothing_from_the_device_and_a_log_row_reads_once(tiny, monkeypatch, family):
    probe = HostReads()
    per_step, per_row = [], []
    iteration, log_values = loop.Trainer.iteration, loop.Trainer._log_values

    def paused(stream):
        """The data stream, outside the probe: decoding happens on the host by design."""
        while True:
            probe.active = False
            batch = next(stream)
            probe.active = True
            yield batch

    def counted(calls, method):
        def wrapper(self, *args):
            before = len(probe.reads)
            with probe, SyncingOps(probe):
                result = method(self, *args)
            calls.append(probe.reads[before:])
            return result

        return wrapper

    monkeypatch.setattr(
        loop.Trainer, "iteration", lambda self, stream: counted(per_step, iteration)(self, paused(stream))
    )
    monkeypatch.setattr(loop.Trainer, "_log_values", counted(per_row, log_values))
    settings = {**tiny, **FAMILIES[family], "train.total_kimg": 0.064, "train.snapshot_every_kimg": 1}
    result = train(overrides=settings, progress=False, tensorboard=False)
    batch = settings["train.batch"]
    assert len(per_step) == 64 // batch and len(per_row) >= 1
    assert all(reads == [] for reads in per_step), per_step  # lazy regularisers and ADA's adjust included
    assert all(len(reads) == 1 for reads in per_row), per_row  # losses, NaN check and ADA's p in one copy
    if family == "stylegan2-ada":
        from ganforge.artifacts import checkpoint as ckpt

        assert -1 <= result.stats["augment_rt"] <= 1  # adjusted on the device, read with the row
        assert result.stats["augment_p"] == pytest.approx(ckpt.load(result.checkpoint)["augment"]["p"], abs=1e-5)


def test_the_probe_sees_device_reads_and_lets_host_values_be():
    """The probe itself: reads of device values count, reads of host-made values do not."""
    probe = HostReads()
    weight = torch.ones(3)  # made outside the probe, like the parameters: a device value
    with probe, SyncingOps(probe):
        step = torch.tensor(0.0)  # Adam's step counter: made without a device
        step += 1
        assert step.item() == 1 and bool(torch.rand(()) < 2)
        total = (weight * 2).sum()
        float(total)
        (weight > 0).nonzero()
        drawn = torch.rand(3, device=weight.device)  # a draw on the training device
        drawn.tolist()
        int(torch.randint(0, 4, ()) + weight[0])  # a host draw mixed with a device value
    assert [read.split(":")[0] for read in probe.reads] == ["__float__", "aten.nonzero.default", "tolist", "__int__"]
