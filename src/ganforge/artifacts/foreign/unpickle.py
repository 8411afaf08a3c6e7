"""The restricted unpickler: the one place in ganforge that reads Python pickles (NVIDIA's network pickles).

A pickle is a small program: each GLOBAL opcode imports a name and REDUCE calls it. `load` allows exactly the
globals in `ALLOWED` below and refuses any other (os.system, builtins.eval/exec, subprocess, a class of another
project ...) with an error naming it, before anything is called. NVIDIA's `torch_utils.persistence` records
(`_reconstruct_persistent_obj(meta)`, whose meta carries the Python source of their networks and which their code
`exec`s) become `PersistentRecord`s holding the metadata only: the stored source is never executed, imported or
written anywhere. Tensors are rebuilt by torch's own weights-only loader, and each storage's raw bytes are dropped
from the unpickler's memo once rebuilt, so a file is held in memory once (not as bytes plus tensors).
"""
from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import CheckpointError

SOURCE_PLACEHOLDER = "<module source not read>"  # what a PersistentRecord keeps of the stored source


@dataclass
class PersistentRecord:
    """What NVIDIA's persistence stored for one network object, as data: class name, the constructor's arguments,
    and the object's state (its `__dict__`: `_parameters`, `_buffers`, `_modules` of further records, attributes).
    """

    class_name: str  # e.g. "Generator", "SynthesisBlock", "AugmentPipe"
    version: int  # torch_utils.persistence's format version (6 in stylegan2-ada-pytorch and stylegan3)
    source_chars: int  # length of the stored module source (kept for `info`; the source itself is discarded)
    state: dict[str, Any] = field(repr=False)  # the object's attributes

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs", {}))

    @property
    def children(self) -> dict[str, Any]:
        """Sub-modules by attribute name (records, or None for an unset one)."""
        return dict(self.state.get("_modules", {}))

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The parameters and buffers of this object and its sub-records, by dotted name: its state dict (the names
        torch's `state_dict()` would give the live module; unset ones, such as a missing bias, are skipped)."""
        out: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in self.state.get(group, {}).items():
                if value is not None:
                    out[prefix + name] = value.detach() if isinstance(value, torch.Tensor) else value
        for name, child in self.children.items():
            if isinstance(child, PersistentRecord):
                out.update(child.tensors(f"{prefix}{name}."))
        return out

    def parameter_count(self) -> int:
        """Number of trainable parameters (buffers not counted), of this object and its sub-records."""
        count = sum(int(v.numel()) for v in self.state.get("_parameters", {}).values() if v is not None)
        return count + sum(c.parameter_count() for c in self.children.values() if isinstance(c, PersistentRecord))


def _persistent_record(meta: dict) -> PersistentRecord:
    """Stands in for torch_utils.persistence._reconstruct_persistent_obj: keeps the metadata, drops the source."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("a persistence record without a class name")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"persistence record {meta['class_name']!r} with a state of type "
                                     f"{type(state).__name__}")
    source = meta.get("module_src")
    return PersistentRecord(meta["class_name"], int(meta.get("version", 0)),
                            len(source) if isinstance(source, str) else 0, dict(state))


def _storage_from_bytes(data: bytes) -> Any:
    """Stands in for torch.storage._load_from_bytes, which calls torch.load without weights_only: the blob is a
    torch.save'd storage and torch's weights-only loader reads it (and refuses anything else)."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _numpy_scalar(dtype: np.dtype, data: bytes) -> Any:
    """numpy.core.multiarray.scalar: one numpy value from its dtype and raw bytes."""
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_array(subtype: type, shape: tuple, dtype: bytes) -> np.ndarray:
    """numpy.core.multiarray._reconstruct: an empty ndarray that the pickle's BUILD fills from raw bytes (StyleGAN3
    stores sizes as small arrays); subclasses of ndarray are refused."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refused numpy array subtype {getattr(subtype, '__name__', subtype)!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """_codecs.encode as protocol-2 pickles use it (bytes written as latin-1 text); no other encoding."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool, backward_hooks: Any, *state: Any) -> torch.Tensor:
    """torch._utils._rebuild_parameter(_with_state) as a plain tensor: hooks and Python state are ignored."""
    return data


# (module, name) -> the function the pickle gets instead; everything else is refused. numpy appears as numpy.core
# (numpy 1) and numpy._core (numpy 2).
ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("dnnlib.util", "EasyDict"): dict,  # a dict with attribute access: read as a plain dict
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "float32"): torch.float32,
    ("torch", "float16"): torch.float16,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_array,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_array,
}
LARGE_BYTES = 1 << 16  # bytes objects at least this long are not memoised (storage blobs, read once)


def _holds_large_bytes(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) >= LARGE_BYTES


class _RestrictedUnpickler(pickle._Unpickler):  # the Python implementation, so that memoisation can be steered
    """pickle's unpickler with `find_class` limited to ALLOWED and large byte strings kept out of the memo."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 2 pickles name Python 2's builtins module
            module = "builtins"
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (not on ganforge's allow-list of "
                                         f"tensor, container and NVIDIA persistence names)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"refused persistent id {str(pid)[:60]!r}")

    def __init__(self, file: Any):
        super().__init__(file)
        self.skipped = 0  # large byte strings left out of the memo (MEMOIZE numbers entries by count)

    def _memoise(self, index: int) -> None:
        value = self.stack[-1]
        if _holds_large_bytes(value) or (isinstance(value, tuple) and any(map(_holds_large_bytes, value))):
            self.skipped += 1  # a storage blob, or the argument tuple of its reconstructor: read once
        else:
            self.memo[index] = value

    def load_binput(self) -> None:
        self._memoise(self.read(1)[0])

    def load_long_binput(self) -> None:
        self._memoise(int.from_bytes(self.read(4), "little"))

    def load_memoize(self) -> None:
        self._memoise(len(self.memo) + self.skipped)

    dispatch[pickle.BINPUT[0]] = load_binput
    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput
    dispatch[pickle.MEMOIZE[0]] = load_memoize


def load(path: str | Path) -> Any:
    """The object in a pickle file, rebuilt from allowed names only; a CheckpointError naming the file otherwise
    (a refused global, a truncated or corrupt file). Nothing in the file is executed."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _RestrictedUnpickler(handle).load()
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except EOFError:
        raise CheckpointError(f"{path} is truncated or empty (the pickle ends early)") from None
    except (pickle.UnpicklingError, RuntimeError) as error:
        raise CheckpointError(f"{path}: {str(error).splitlines()[0]}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError, OverflowError) as error:
        raise CheckpointError(f"{path} is not a readable pickle ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else 'malformed'})") from None
