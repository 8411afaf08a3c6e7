"""ONNX export of any ganforge generator, and `OnnxGenerator`, the same generator run by onnxruntime.

One graph per generator, opset 17, dynamic batch, written by torch's TorchScript-based exporter
(`torch.onnx.export(dynamo=False)`: deprecated since torch 2.9 but present in every torch ganforge supports, and it
needs only the `onnx` package, where the torch.export-based one also needs onnxscript). `to_onnx(..., rewrite=True)`
exports the equivalent form of artifacts/fast.py instead (batch norm folded, 4x4 stride-2 transposed convs as sub-pixel
convs); the fp32 export keeps the plain graph, which bench/inference.py measured as fast or faster in onnxruntime on
two threads, and the int8 export (artifacts/quantize.py) uses the rewritten one. `export_onnx` (artifacts/export.py)
writes either to a file.

- noise -> image (DCGAN, conditional DCGAN, StyleGAN2): inputs `z` float [N, z_dim], `psi` float [] (truncation,
  Karras et al. 2019: StyleGAN2 pulls w toward w_avg, DCGAN scales z by psi) and, for class-conditional models,
  `labels` int64 [N]; output `images` float [N, C, R, R] in [-1, 1]. StyleGAN2's mapping and synthesis networks are
  one graph; its per-pixel noise is the generator's stored constant noise (noise_mode="const"), so an image depends
  on z, psi and the label only, as in `LoadedGenerator.generate`.
- image -> image (pix2pix, and any model trained on image pairs): input `source` float [N, C_in, R, R] in [-1, 1],
  output `images` float [N, C, R, R].

Every generator is exported in eval mode, the mode `LoadedGenerator` and `ganforge translate` run it in: batch norm
uses the running statistics gathered in training and dropout is off. For pix2pix this is not the original paper's
test-time protocol (Isola et al. 2017 keep dropout on and normalise with the test batch's statistics); eval mode makes
an image independent of its batch neighbours and of the random state, which tiled translation needs.

The graph carries ganforge's description of the model in its metadata: key `ganforge` holds the same JSON as an
export's config.json (model settings, dataset shape and class names, kimg, statistics) plus the graph's kind, and the
flat keys `model`, `resolution`, `channels` and `classes` name the essentials for other tools (Netron, scripts).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import io
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import limits
from ..config import FORMAT_VERSION, from_dict
from ..data.base import DatasetInfo
from ..errors import CheckpointError, ConfigError
from ..families import Task
from .exported import check_meta, describe_export
from .fast import optimize_for_inference
from .generator import LoadedGenerator, SeededSampler, check_truncation

OPSET = 17  # ONNX 1.12 (2022): run by onnxruntime >= 1.12 and most other runtimes
ONNX_FORMAT = "ganforge-onnx-generator"
META_KEY = "ganforge"
EXTRA = "pip install 'ganforge[onnx]'"
NOISE, IMAGE = Task.NOISE_TO_IMAGE.value, Task.PAIRED.value  # the two graph kinds (CycleGAN: its a2b as IMAGE)


def require(package: str) -> ModuleType:
    """Import `onnx` or `onnxruntime`, or say which optional extra provides it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ConfigError(f"ONNX support needs the '{package}' package, which is not installed: {EXTRA}") from None


# ---- export -----------------------------------------------------------------------------------------------------
class _NoiseGraph(nn.Module):
    """(z [N, z_dim], psi [], labels [N] | None) -> images [N, C, R, R], as `LoadedGenerator.synthesize`."""

    def __init__(self, generator: LoadedGenerator):
        super().__init__()
        self.generator, self.module = generator, generator.module

    def forward(self, z: torch.Tensor, psi: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.generator.has_styles:  # truncation toward w_avg in every ws, noise constant
            ws = self.module.w_avg.lerp(self.module.map(z, labels), psi)  # [N, num_ws, w_dim]
            images = self.module.synthesis(ws, noise_mode="const")
        else:
            images = self.module(z * psi, labels)
        return self.generator.full_size(images.float())


class _ImageGraph(nn.Module):
    """source [N, C_in, R, R] -> images [N, C, R, R]."""

    def __init__(self, generator: LoadedGenerator):
        super().__init__()
        self.module = generator.module

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.module(source).float()


def graph_kind(generator: LoadedGenerator) -> str:
    return IMAGE if generator.dataset.task.translates else NOISE


def export_graph(generator: LoadedGenerator, batch: int = 2) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The module that is traced into the ONNX graph, and named example inputs of `batch` samples."""
    info, seeded = generator.dataset, torch.Generator().manual_seed(0)
    if graph_kind(generator) == IMAGE:
        source = torch.rand(batch, info.input_channels, info.resolution, info.resolution, generator=seeded) * 2 - 1
        return _ImageGraph(generator), {"source": source}
    inputs = {"z": torch.randn(batch, generator.z_dim, generator=seeded), "psi": torch.tensor(1.0)}
    if generator.num_classes:
        inputs["labels"] = torch.zeros(batch, dtype=torch.long)
    return _NoiseGraph(generator), inputs


def describe_graph(generator: LoadedGenerator) -> dict[str, Any]:
    """The JSON stored under the `ganforge` metadata key."""
    return {
        "format": ONNX_FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": graph_kind(generator),
        "opset": OPSET,
        **describe_export(generator),
    }


def to_onnx(generator: LoadedGenerator, rewrite: bool = False) -> bytes:
    """The serialized ONNX model of a generator (CPU, fp32, eval mode), metadata included. `rewrite`: export the
    equivalent form of artifacts/fast.py (batch norm folded, 4x4 stride-2 transposed convs as sub-pixel convs) of a
    copy; the generator itself is left untouched."""
    onnx = require("onnx")
    if rewrite:
        generator = dataclasses.replace(generator, module=optimize_for_inference(copy.deepcopy(generator.module).cpu()))
    module, inputs = export_graph(generator)
    module = module.cpu().eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad(), native_stdout_silenced():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
            torch.onnx.export(
                module,
                tuple(inputs.values()),
                buffer,
                dynamo=False,
                opset_version=OPSET,
                input_names=list(inputs),
                output_names=["images"],
                dynamic_axes={**{name: {0: "batch"} for name in inputs if name != "psi"}, "images": {0: "batch"}},
            )
    except Exception as error:  # unsupported operators, data-dependent shapes, models over 2 GB
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{generator.source}: the {generator.model.name} generator cannot be exported to ONNX "
            f"opset {OPSET}: {reason}"
        ) from None
    model = onnx.load_from_string(buffer.getvalue())
    details = describe_graph(generator)
    flat = {
        "model": generator.model.name,
        "resolution": str(generator.dataset.resolution),
        "channels": str(generator.dataset.channels),
        "classes": json.dumps(list(generator.dataset.class_names) if generator.num_classes else []),
    }
    for key, value in {META_KEY: json.dumps(details, sort_keys=True), **flat}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "ganforge"
    return model.SerializeToString()


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Discard what C++ code writes to file descriptor 1: the TorchScript exporter dumps the whole traced graph
    there when an operator cannot be exported (its log switch is always on in torch 2.13)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# ---- running with onnxruntime ----------------------------------------------------------------------------------
def session_options(threads: int):
    """onnxruntime settings: all graph optimisations (constant folding, conv + batch-norm fusion, NCHWc layouts),
    `threads` intra-op threads, sequential execution."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


@dataclass
class OnnxGenerator(SeededSampler):
    """A ganforge ONNX graph run by onnxruntime, with `LoadedGenerator`'s sampling API (`latents`, `labels_for`,
    `synthesize`, `generate`) and `translate_fn` for image-to-image graphs; same seeds give the same images."""

    session: Any  # onnxruntime.InferenceSession
    model: Any  # ModelConfig
    dataset: DatasetInfo
    num_classes: int
    kimg: float
    stats: dict[str, Any]
    source: str
    kind: str  # NOISE or IMAGE

    device = torch.device("cpu")  # inputs and outputs are CPU tensors, whatever the execution provider

    def synthesize(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 64, truncation: float = 1.0
    ) -> torch.Tensor:
        """z [N, z_dim] -> float images [N, C, R, R] in [-1, 1]."""
        if self.kind != NOISE:
            raise ConfigError(f"{self.source} is an image-to-image model: it translates images rather than sampling")
        check_truncation(truncation)
        psi = np.asarray(truncation, dtype=np.float32)
        out = []
        for start in range(0, len(z), batch_size):
            feeds = {"z": z[start : start + batch_size].float().numpy(), "psi": psi}
            if self.num_classes:
                feeds["labels"] = labels[start : start + batch_size].long().numpy()
            out.append(torch.from_numpy(self.session.run(["images"], feeds)[0]))
        size = self.dataset.resolution
        return torch.cat(out) if out else torch.empty(0, self.dataset.channels, size, size)

    def translate_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Image-to-image graphs: float [N, C_in, R, R] -> float [N, C, R, R], for `tiling.translate_array`."""

        def run(tiles: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.session.run(["images"], {"source": tiles.float().contiguous().numpy()})[0])

        return run


def open_session(model: str | Path | bytes, threads: int | None = None, providers: list[str] | None = None):
    """An onnxruntime session for an ONNX file or serialized model; a clear error for anything that is not ONNX."""
    ort = require("onnxruntime")
    options = session_options(threads or torch.get_num_threads())
    name = "the exported graph" if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(
            model if isinstance(model, bytes) else str(model), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf / NoSuchFile types
        first = str(error).strip().splitlines()[0][:200]
        raise CheckpointError(f"{name} is not a readable ONNX model: {first}") from None


def load_onnx(path: str | Path, threads: int | None = None) -> OnnxGenerator:
    """A ganforge .onnx file as an `OnnxGenerator` (onnxruntime, `threads` intra-op threads: default torch's)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    session = open_session(path, threads)
    return _wrap(session, str(path))


def from_generator(generator: LoadedGenerator, threads: int | None = None, rewrite: bool = False) -> OnnxGenerator:
    """Export a loaded generator in memory (`to_onnx`) and run it with onnxruntime (no file written)."""
    return _wrap(open_session(to_onnx(generator, rewrite=rewrite), threads), generator.source)


def _wrap(session, source: str) -> OnnxGenerator:
    where = f"{source}: '{META_KEY}' metadata"
    text = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    meta = limits.load_json(text, where, CheckpointError) if text else None
    if not isinstance(meta, dict) or meta.get("format") != ONNX_FORMAT:
        raise CheckpointError(
            f"{source} is an ONNX model but not a ganforge generator export "
            f"(no '{META_KEY}' metadata; write one with `ganforge export --format onnx`)"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{source} has ganforge ONNX format version {meta.get('format_version')}; this "
            f"ganforge reads {FORMAT_VERSION}"
        )
    if meta.get("kind") not in (NOISE, IMAGE):
        raise CheckpointError(f"{where}: field 'kind' must be {NOISE!r} or {IMAGE!r}")
    check_meta(meta, where)
    try:
        model = from_dict({"model": meta["model"]}).model
    except ConfigError as error:
        raise CheckpointError(f"{where}: {error}") from None
    generator = OnnxGenerator(
        session,
        model,
        DatasetInfo.from_dict(meta["dataset"]),
        meta["num_classes"],
        float(meta.get("kimg", 0.0)),
        meta.get("stats", {}),
        source,
        meta["kind"],
    )
    _check_graph(generator, where)
    return generator


def _check_graph(generator: OnnxGenerator, where: str) -> None:
    """CheckpointError unless the graph's inputs and output are the ones the metadata describes (names, and every
    dimension the graph fixes): a z_dim, class count or resolution that the graph does not have is refused here,
    not by onnxruntime mid-way or by wrong-sized images."""
    info, size = generator.dataset, generator.dataset.resolution
    if generator.kind == NOISE:
        expected = {
            "z": ["batch", generator.z_dim],
            "psi": [],
            **({"labels": ["batch"]} if generator.num_classes else {}),
        }
    else:
        expected = {"source": ["batch", info.input_channels, size, size]}
    expected_output = ["batch", info.channels, size, size]
    graph = {item.name: item.shape for item in generator.session.get_inputs()}
    if set(graph) != set(expected):
        raise CheckpointError(
            f"{where} describes inputs {', '.join(expected)}, but the graph takes "
            f"{', '.join(graph)} (num_classes {generator.num_classes})"
        )
    outputs = {item.name: item.shape for item in generator.session.get_outputs()}
    for name, want in [*expected.items(), ("images", expected_output)]:
        have = graph.get(name, outputs.get(name))
        if (
            have is None
            or len(have) != len(want)
            or any(isinstance(h, int) and isinstance(w, int) and h != w for h, w in zip(have, want))
        ):
            raise CheckpointError(f"{where} describes {name!r} as {want}, but the graph's is {have}")
