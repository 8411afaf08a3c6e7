"""The restricted unpickler: the one place in ganforge that reads Python pickles (NVIDIA's network pickles).

A pickle is a small program: each GLOBAL opcode imports a name and REDUCE calls it. `load` allows exactly the
globals in `ALLOWED` below and refuses any other (os.system, builtins.eval/exec, subprocess, a class of another
project ...) with an error naming it, before anything is called. NVIDIA's `torch_utils.persistence` records
(`_reconstruct_persistent_obj(meta)`, whose meta carries the Python source of their networks and which their code
`exec`s) become `PersistentRecord`s holding the metadata only: the stored source is never executed, imported or
written anywhere. Tensors are rebuilt by torch's own weights-only loader, and each storage's raw bytes are dropped
from the unpickler's memo once rebuilt, so a file is held in memory once (not as bytes plus tensors).

With `lazy=True` (the NVIDIA reader's mode) large storage blobs are not read at all while unpickling: the unpickler
notes where each lies in the file and seeks past it, and the tensor becomes a `StoredTensor` that reads its blob
(weights-only, as above) when asked. So reading a snapshot's structure costs almost no memory, and a reader
materialises only the networks it needs (G_ema to load or import one; G and D only to fine-tune).

Networks pickled as plain `torch.nn.Module` objects (the R3GAN authors' snapshots: NEWOBJ of the class, then BUILD with
its `__dict__`) are read the same way for the classes in `MODULE_CLASSES` only: each becomes a `ModuleRecord` (a
`PersistentRecord` named after the class) holding that `__dict__` as data; no class of theirs is imported or called.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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

    def tensors(self, prefix: str = "") -> StateDict:
        """The parameters and buffers of this object and its sub-records, by dotted name: its state dict (the names
        torch's `state_dict()` would give the live module; unset ones, such as a missing bias, are skipped). Tensors
        left in the file (lazy reading) are read when looked up."""
        return StateDict(self._entries(prefix))

    def _entries(self, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in self.state.get(group, {}).items():
                if value is not None:
                    out[prefix + name] = value
        for name, child in self.children.items():
            if isinstance(child, PersistentRecord):
                out.update(child._entries(f"{prefix}{name}."))
        return out

    def parameter_count(self) -> int:
        """Number of trainable parameters (buffers not counted), of this object and its sub-records."""
        count = sum(int(v.numel()) for v in self.state.get("_parameters", {}).values() if v is not None)
        return count + sum(c.parameter_count() for c in self.children.values() if isinstance(c, PersistentRecord))


class ModuleRecord(PersistentRecord):
    """A torch.nn.Module pickled as a plain object, as data. Each allowed class gets a stand-in subclass
    (`_module_standins`): NEWOBJ creates an empty record through `__new__` (no arguments), BUILD hands it the module's
    `__dict__` through `__setstate__`; calling the class (REDUCE) is refused. Its `class_name` is the dotted name."""

    pickled_class = ""  # "module.Class" of the stand-in

    def __new__(cls, *args: Any) -> ModuleRecord:
        if args:
            raise pickle.UnpicklingError(f"refused arguments to {cls.pickled_class} (a pickled module takes none)")
        record = object.__new__(cls)
        record.class_name, record.version, record.source_chars, record.state = cls.pickled_class, 0, 0, {}
        return record

    def __init__(self, *args: Any, **kwargs: Any):
        raise pickle.UnpicklingError(f"refused call of {self.pickled_class} (modules are rebuilt from their state)")

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"module {self.pickled_class} with a state of type {type(state).__name__}")
        self.state = dict(state)


class StateDict(Mapping):
    """A state dict whose tensors may still be in the file (`StoredTensor`): each is read when looked up, so a network
    costs memory only once something (`load_state_dict`, a test) asks for its tensors."""

    def __init__(self, entries: dict[str, Any]):
        self._entries = entries

    def __getitem__(self, name: str) -> Any:
        value = self._entries[name]
        if isinstance(value, StoredTensor):
            return value.load()
        return value.detach() if isinstance(value, torch.Tensor) else value

    def renamed(self, rename: Callable[[str], str]) -> StateDict:
        """The same tensors (still in the file where they were) under the names `rename` gives."""
        return StateDict({rename(name): value for name, value in self._entries.items()})

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each tensor's shape, read from the pickle's structure: no tensor is read from the file."""
        return {
            name: tuple(value.shape)
            for name, value in self._entries.items()
            if isinstance(value, (StoredTensor, torch.Tensor))
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class StoredBytes:
    """A large byte string of a pickle left in the file (lazy reading): where it lies."""

    path: Path
    offset: int
    length: int


@dataclass(frozen=True)
class StoredStorage:
    """A torch storage whose torch.save'd blob is still in the file (what `_load_from_bytes` gives lazily)."""

    blob: StoredBytes

    def load(self) -> Any:
        """The storage, read from its byte range by torch's weights-only loader (which refuses anything else)."""
        blob = self.blob
        with _checkpoint_errors(blob.path), open(blob.path, "rb") as handle:
            handle.seek(blob.offset)
            storage = torch.load(handle, weights_only=True, map_location="cpu")
            if handle.tell() > blob.offset + blob.length:
                raise pickle.UnpicklingError(f"the tensor data at byte {blob.offset} runs past its {blob.length} bytes")
        return storage


@dataclass(frozen=True)
class StoredTensor:
    """A tensor left in the file until `load()`: its storage blob and its view of it (offset, size, stride)."""

    storage: StoredStorage
    offset: int
    size: tuple
    stride: tuple

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.size)

    def numel(self) -> int:
        return math.prod(self.size)

    def load(self) -> torch.Tensor:
        storage = self.storage.load()
        with _checkpoint_errors(self.storage.blob.path):
            return torch._utils._rebuild_tensor_v2(
                storage, self.offset, self.size, self.stride, False, collections.OrderedDict()
            )


def _persistent_record(meta: dict) -> PersistentRecord:
    """Stands in for torch_utils.persistence._reconstruct_persistent_obj: keeps the metadata, drops the source."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("a persistence record without a class name")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(
            f"persistence record {meta['class_name']!r} with a state of type {type(state).__name__}"
        )
    source = meta.get("module_src")
    return PersistentRecord(
        meta["class_name"], int(meta.get("version", 0)), len(source) if isinstance(source, str) else 0, dict(state)
    )


def _storage_from_bytes(data: bytes | StoredBytes) -> Any:
    """Stands in for torch.storage._load_from_bytes, which calls torch.load without weights_only: the blob is a
    torch.save'd storage and torch's weights-only loader reads it (and refuses anything else); a blob left in the
    file is read only when its tensor is asked for."""
    if isinstance(data, StoredBytes):
        return StoredStorage(data)
    return torch.load(io.BytesIO(data), weights_only=True)


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any) -> Any:
    """torch._utils._rebuild_tensor(_v2); a storage still in the file gives a `StoredTensor`."""
    if isinstance(storage, StoredStorage):
        return StoredTensor(storage, int(offset), tuple(size), tuple(stride))
    if rest:
        return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, *rest)
    return torch._utils._rebuild_tensor(storage, offset, size, stride)


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
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "float32"): torch.float32,
    ("torch", "float16"): torch.float16,
    ("torch", "bfloat16"): torch.bfloat16,  # R3GAN stores its stages' compute type
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_array,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_array,
}
# Module classes that may appear as plain pickled objects (NEWOBJ + BUILD), each read as a `ModuleRecord`: the R3GAN
# authors' networks (brownvc/R3GAN: training/networks.py wrapping R3GAN/Networks.py) and the torch layers they hold.
MODULE_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("training.networks", "Generator"),
        ("training.networks", "Discriminator"),
        *(
            ("R3GAN.Networks", name)
            for name in (
                "Generator",
                "Discriminator",
                "GeneratorStage",
                "DiscriminatorStage",
                "ResidualBlock",
                "Convolution",
                "UpsampleLayer",
                "DownsampleLayer",
                "GenerativeBasis",
                "DiscriminativeBasis",
            )
        ),
        *(("R3GAN.FusedOperators", f"BiasedActivation{kind}") for kind in ("CUDA", "Reference")),
        *(
            ("R3GAN.Resamplers", f"Interpolative{way}sampler{kind}")
            for way in ("Up", "Down")
            for kind in ("CUDA", "Reference")
        ),
        ("torch.nn.modules.container", "ModuleList"),
        ("torch.nn.modules.conv", "Conv2d"),
        ("torch.nn.modules.linear", "Linear"),
    }
)


MODULE_STANDINS: dict[tuple[str, str], type] = {  # what find_class gives for them: inert ModuleRecord subclasses
    (module, name): type(name, (ModuleRecord,), {"pickled_class": f"{module}.{name}"})
    for module, name in MODULE_CLASSES
}
LARGE_BYTES = 1 << 16  # bytes objects at least this long are not memoised (storage blobs, read once) or, with lazy
# reading, not read at all


def _holds_large_bytes(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray)) and len(value) >= LARGE_BYTES


class _RestrictedUnpickler(pickle._Unpickler):  # the Python implementation, so that memoisation can be steered
    """pickle's unpickler with `find_class` limited to ALLOWED and large byte strings kept out of the memo (or, with
    `lazy`, left in the file as `StoredBytes`)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 2 pickles name Python 2's builtins module
            module = "builtins"
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if key not in MODULE_STANDINS:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name} (not on ganforge's allow-list of "
                f"tensor, container, NVIDIA persistence and R3GAN module names)"
            )
        return MODULE_STANDINS[key]

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"refused persistent id {str(pid)[:60]!r}")

    def __init__(self, file: Any, lazy: bool = False):
        super().__init__(file)
        self.skipped = 0  # large byte strings left out of the memo (MEMOIZE numbers entries by count)
        self._handle, self._lazy = file, lazy

    def _bytes(self, length: int) -> None:
        """Push a BINBYTES payload: read, or (lazy, large, and outside a protocol-4 frame) its place in the file."""
        if not (self._lazy and length >= LARGE_BYTES and self._frame_done()):
            self.append(self.read(length))
            return
        offset = self._handle.tell()
        if offset + length > os.fstat(self._handle.fileno()).st_size:
            raise EOFError
        self._handle.seek(length, io.SEEK_CUR)
        self.append(StoredBytes(Path(self._handle.name).absolute(), offset, length))  # read later, maybe elsewhere

    def _frame_done(self) -> bool:
        """True when the next bytes come straight from the file (no protocol-4 frame, or its end reached): large
        payloads are written outside frames, right after their opcode."""
        frame = self._unframer.current_frame
        if frame is None or not frame.read(1):
            return True
        frame.seek(-1, io.SEEK_CUR)
        return False

    def load_binbytes(self) -> None:
        self._bytes(int.from_bytes(self.read(4), "little"))

    def load_binbytes8(self) -> None:
        self._bytes(int.from_bytes(self.read(8), "little"))

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
    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8


def load(path: str | Path, lazy: bool = False) -> Any:
    """The object in a pickle file, rebuilt from allowed names only; a CheckpointError naming the file otherwise
    (a refused global, a truncated or corrupt file). Nothing in the file is executed. `lazy`: tensors with large
    storages stay in the file as `StoredTensor`s (read by `.load()`, or on lookup in a record's `tensors()`)."""
    path = Path(path)
    with _checkpoint_errors(path), open(path, "rb") as handle:
        return _RestrictedUnpickler(handle, lazy).load()


@contextmanager
def _checkpoint_errors(path: Path) -> Iterator[None]:
    """Turn what reading a pickle (or a tensor blob in it) can raise into one CheckpointError line naming the file."""
    try:
        yield
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except EOFError:
        raise CheckpointError(f"{path} is truncated or empty (the pickle ends early)") from None
    except (pickle.UnpicklingError, RuntimeError) as error:
        raise CheckpointError(f"{path}: {str(error).splitlines()[0]}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError, OverflowError) as error:
        raise CheckpointError(
            f"{path} is not a readable pickle ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'malformed'})"
        ) from None
