"""Foreign files are read without running anything in them, and bad files fail with one line naming the file.

Malicious pickles are written here with the standard pickler (a `__reduce__` returning the callable to run); each
would create a marker file when unpickled by `pickle.load`. ganforge must refuse them, or (for NVIDIA persistence
records, whose stored module source their code `exec`s) read them without executing the source; the marker must
never appear.
"""

import builtins
import collections
import io
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.artifacts import foreign
from ganforge.artifacts.foreign import unpickle
from ganforge.errors import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "sg2_8px_cond_resnet_skip.pkl"


class _Reduce:
    """Pickles as `call(*args)`."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _write(path: Path, obj) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def _payloads(marker: Path) -> dict[str, object]:
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "eval": _Reduce(builtins.eval, touch),
        "exec": _Reduce(builtins.exec, touch),
        "subprocess": _Reduce(subprocess.call, ["touch", str(marker)]),
        "__import__": _Reduce(builtins.__import__, "os"),
        "nested in a snapshot": {"G_ema": {"weights": [_Reduce(os.system, f"touch {marker}")]}, "D": None},
    }


@pytest.mark.parametrize("kind", list(_payloads(Path("m"))))
def test_pickles_that_would_run_code_are_refused(tmp_path, kind):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "network-snapshot-000000.pkl", _payloads(marker)[kind])
    with pytest.raises(CheckpointError, match=r"refused global") as error:
        ganforge.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_a_storage_blob_that_would_run_code_is_refused(tmp_path):
    """NVIDIA pickles hold each tensor's storage as a torch.save blob; torch's own `_load_from_bytes` loads it with
    full unpickling. ganforge loads it weights-only, which refuses the code inside."""
    marker = tmp_path / "marker"
    blob = io.BytesIO()
    torch.save(_Reduce(os.system, f"touch {marker}"), blob, _use_new_zipfile_serialization=False)
    path = _write(tmp_path / "evil.pkl", {"G_ema": _Reduce(torch.storage._load_from_bytes, blob.getvalue())})
    with pytest.raises(CheckpointError):
        unpickle.load(path)
    assert not marker.exists()


# ---- NVIDIA persistence records written by a stand-in for torch_utils.persistence ---------------------------------
def _reconstruct_persistent_obj(meta):  # never called: only its name is pickled
    raise AssertionError("unpickled by ganforge's stand-in, not this")


class _Persistent:
    """Pickles a PersistentRecord the way NVIDIA's persistence does, with `source` as the stored module source."""

    def __init__(self, record, source):
        self.record, self.source = record, source

    def __reduce__(self):
        state = {
            k: (
                {
                    n: _Persistent(c, self.source) if isinstance(c, unpickle.PersistentRecord) else c
                    for n, c in v.items()
                }
                if k == "_modules"
                else v
            )
            for k, v in self.record.state.items()
        }
        return _reconstruct_persistent_obj, (
            {
                "type": "class",
                "version": 6,
                "module_src": self.source,
                "class_name": self.record.class_name,
                "state": state,
            },
        )


@pytest.fixture
def persistence(monkeypatch):
    """Pickle records under torch_utils.persistence._reconstruct_persistent_obj, as NVIDIA's files name it."""
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setattr(_reconstruct_persistent_obj, "__module__", "torch_utils.persistence")
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)


def _resave(path: Path, source: str, edit=None) -> Path:
    """The fixture snapshot re-pickled with `source` as every record's module source (and `edit` applied)."""
    data = unpickle.load(FIXTURE)
    if edit:
        edit(data)
    return _write(
        path, {k: _Persistent(v, source) if isinstance(v, unpickle.PersistentRecord) else v for k, v in data.items()}
    )


def test_the_stored_module_source_is_never_run(tmp_path, persistence):
    marker = tmp_path / "marker"
    source = f"import os\nos.system('touch {marker}')\nclass Generator: pass\n"
    path = _resave(tmp_path / "network-snapshot-000010.pkl", source)
    generator = ganforge.load(path)  # the source is discarded; the weights and constructor arguments suffice
    reference = ganforge.load(FIXTURE)
    assert (generator.generate(2, seed=1) == reference.generate(2, seed=1)).all()
    assert generator.kimg == 10 and not marker.exists()
    assert b"os.system" in path.read_bytes()  # the payload really was in the file


def test_mismatched_weights_name_the_file(tmp_path, persistence):
    def drop_a_weight(data):
        del data["G_ema"].children["synthesis"].children["b8"].children["conv0"].state["_parameters"]["weight"]

    path = _resave(tmp_path / "damaged.pkl", "# placeholder", drop_a_weight)
    with pytest.raises(CheckpointError, match="weights do not fit") as error:
        ganforge.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# ---- files that are not NVIDIA snapshots ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "PNG image"),
        (b"hello, not a model", "unrecognised contents"),
        (pickle.dumps([1, 2, 3], protocol=4), "a pickle of a list"),
        (pickle.dumps({"model": {"layers": 3}, "epoch": 7}, protocol=4), "a pickle of another kind"),
        (pickle.dumps({"G_ema": [1.0]}, protocol=4), "not an NVIDIA persistent network"),
    ],
)
def test_other_files_get_one_line_naming_them(tmp_path, content, expected):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    for call in (ganforge.load, foreign.describe):
        with pytest.raises(CheckpointError, match=expected) as error:
            call(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_truncated_snapshot_names_the_file(tmp_path):
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(FIXTURE.read_bytes()[: len(FIXTURE.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="truncated") as error:
        ganforge.load(path)
    assert str(path) in str(error.value)


def test_the_allow_list_reads_every_pickle_protocol(tmp_path):
    """Protocol 2 (Python 2 names, bytes as latin-1 text) to 5; numpy scalars; storages shared between views."""
    import numpy as np

    weight = torch.randn(300, 300)
    obj = {"w": torch.nn.Parameter(weight), "view": weight[2:5], "gain": np.float64(0.5), "set": {1, 2}}
    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        data = unpickle.load(path)
        assert torch.equal(data["w"], weight) and torch.equal(data["view"], weight[2:5])
        assert data["gain"] == 0.5 and data["set"] == {1, 2}


def test_storage_blobs_are_not_kept_while_reading(tmp_path):
    """Each tensor's raw bytes are dropped once its storage is rebuilt (not memoised), so a file is held once."""
    tensors = {f"w{i}": torch.randn(64, 1024) for i in range(3)}  # 256 KiB each
    path = tmp_path / "big.pkl"
    for protocol in (3, 4):
        path.write_bytes(pickle.dumps(tensors, protocol=protocol))
        with open(path, "rb") as handle:
            reader = unpickle._RestrictedUnpickler(handle)
            data = reader.load()
        assert all(torch.equal(data[k], v) for k, v in tensors.items())
        blobs = [
            v
            for v in reader.memo.values()
            for v in (v if isinstance(v, tuple) else (v,))
            if isinstance(v, bytes) and len(v) >= 2**16
        ]
        assert reader.skipped >= 3 and not blobs


# ---- lazy reading: a snapshot's tensors stay in the file until a network is loaded -------------------------------
def _record_of(module: torch.nn.Module, kwargs: dict | None = None) -> unpickle.PersistentRecord:
    """A live module as the record NVIDIA's persistence would store for it."""
    state = {
        "_parameters": dict(module._parameters),
        "_buffers": dict(module._buffers),
        "_init_args": (),
        "_modules": {n: _record_of(m) for n, m in module._modules.items()},
        "_init_kwargs": kwargs or {},
    }
    return unpickle.PersistentRecord(type(module).__name__.replace("Nvidia", ""), 6, 0, state)


@pytest.fixture
def wide_snapshot(tmp_path, persistence):
    """(path, G): a snapshot with G and G_ema of 256 channels (conv weights of 2.4 MB each, about 12 MB per G)."""
    from ganforge.models.nvidia_sg2 import NvidiaGenerator

    kwargs = {
        "z_dim": 32,
        "c_dim": 0,
        "w_dim": 32,
        "img_resolution": 16,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 2},
        "synthesis_kwargs": {"channel_base": 4096, "channel_max": 256},
    }
    G = NvidiaGenerator(**kwargs).eval()
    record = _Persistent(_record_of(G, kwargs), "# placeholder")
    return _write(tmp_path / "wide.pkl", {"G": record, "G_ema": record, "augment_pipe": None}), G


def test_reading_a_snapshot_leaves_its_tensors_in_the_file(wide_snapshot):
    """`foreign.read` unpickles the structure only: no storage blob is read into memory (Python's allocations stay
    far below one weight), and each tensor is read, equal to the original, when the state dict is looked up."""
    import tracemalloc

    path, G = wide_snapshot
    weights = G.state_dict()
    largest = max(t.nbytes for t in weights.values())
    foreign.describe(path)  # imports the readers (module imports are Python allocations too)
    tracemalloc.start()
    try:
        model = foreign.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert largest >= 2**21 and peak < sum(t.nbytes for t in weights.values()) / 16 < largest
    assert model.model["mapping_layers"] == 2
    assert set(model.generator) == set(weights)
    assert all(torch.equal(model.generator[k], v) for k, v in weights.items())
    loaded = ganforge.load(path).module.state_dict()  # assigned tensor by tensor into the built generator
    assert all(torch.equal(loaded[k], v) for k, v in weights.items())


def test_loading_reads_each_stored_tensor_once(wide_snapshot, monkeypatch):
    """Building the generator checks the file's shapes without reading its tensors; each is read once, when assigned."""
    path, G = wide_snapshot
    reads = []
    read = unpickle.StoredTensor.load
    monkeypatch.setattr(unpickle.StoredTensor, "load", lambda self: reads.append(self.size) or read(self))
    ganforge.load(path)
    stored = [tuple(t.shape) for t in G.state_dict().values() if t.nbytes >= unpickle.LARGE_BYTES]
    assert stored and sorted(reads) == sorted(stored)


def test_a_large_storage_blob_that_would_run_code_is_refused_when_read(tmp_path):
    """A blob left in the file is loaded weights-only when its tensor is asked for: the code in it is refused then."""
    marker = tmp_path / "marker"
    blob = io.BytesIO()
    torch.save([_Reduce(os.system, f"touch {marker}"), "x" * 2**17], blob, _use_new_zipfile_serialization=False)
    path = _write(
        tmp_path / "evil.pkl",
        {
            "w": _Reduce(
                torch._utils._rebuild_tensor_v2,
                _Reduce(torch.storage._load_from_bytes, blob.getvalue()),
                0,
                (1,),
                (1,),
                False,
                collections.OrderedDict(),
            )
        },
    )
    data = unpickle.load(path, lazy=True)
    assert isinstance(data["w"], unpickle.StoredTensor)
    with pytest.raises(CheckpointError) as error:
        data["w"].load()
    assert str(path) in str(error.value) and not marker.exists()


def test_a_snapshot_cut_inside_a_tensor_is_truncated(wide_snapshot, tmp_path):
    path, _ = wide_snapshot
    content = path.read_bytes()
    cut = tmp_path / "network-snapshot-000100.pkl"
    cut.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match="truncated") as error:
        foreign.read(cut)
    assert str(cut) in str(error.value)
