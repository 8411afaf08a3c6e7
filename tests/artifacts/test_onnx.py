"""ONNX export and the onnxruntime backend: parity with PyTorch eval output per model family, dynamic batch,
metadata, the CLI (`export --format onnx`, `sample`/`translate --backend`), and clear errors for bad input."""

import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from ganforge import models  # noqa: E402
from ganforge.artifacts.export import export_onnx  # noqa: E402
from ganforge.artifacts.exported import describe_export, write_export  # noqa: E402
from ganforge.artifacts.generator import LoadedGenerator  # noqa: E402
from ganforge.artifacts.onnx import OPSET, from_generator, load_onnx, to_onnx  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.config import resolve  # noqa: E402
from ganforge.data.base import DatasetInfo  # noqa: E402
from ganforge.errors import CheckpointError, ConfigError  # noqa: E402
from ganforge.imaging import save_png  # noqa: E402
from ganforge.translation import translate  # noqa: E402

CLASSES = ("circle", "square", "triangle")
# family -> (overrides, resolution, class names, input channels)
FAMILIES = {
    "dcgan": ({"model.name": "dcgan", "model.g_channels": 8}, 16, (), 0),
    "dcgan-conditional": ({"model.name": "dcgan", "model.g_channels": 8}, 16, CLASSES, 0),
    "stylegan2": (
        {
            "model.name": "stylegan2",
            "model.g_channels": 8,
            "model.max_channels": 16,
            "model.w_dim": 32,
            "model.z_dim": 32,
            "model.mapping_layers": 2,
        },
        16,
        (),
        0,
    ),
    "stylegan2-conditional": (
        {
            "model.name": "stylegan2",
            "model.g_channels": 8,
            "model.max_channels": 16,
            "model.w_dim": 32,
            "model.z_dim": 32,
            "model.mapping_layers": 2,
        },
        16,
        CLASSES,
        0,
    ),
    "pix2pix": ({"model.name": "pix2pix", "model.g_channels": 8, "model.max_channels": 32}, 32, (), 1),
    "r3gan": ({"model.name": "r3gan", "model.g_channels": 8, "model.max_channels": 32, "model.z_dim": 16}, 16, (), 0),
    "r3gan-conditional": (
        {"model.name": "r3gan", "model.g_channels": 8, "model.max_channels": 32, "model.z_dim": 16},
        16,
        CLASSES,
        0,
    ),
}


def make_generator(family: str) -> LoadedGenerator:
    """A small generator with random weights and non-trivial running statistics and w_avg (so that eval mode,
    batch norm folding and truncation all matter for the output)."""
    overrides, resolution, classes, input_channels = FAMILIES[family]
    cfg = resolve({**overrides, "data.resolution": resolution}).model
    info = DatasetInfo("test", resolution, 3, classes, input_channels)
    torch.manual_seed(1)
    module = models.build_generator(cfg, info, len(classes))
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.3, 0.3)
            layer.running_var.uniform_(0.5, 2.0)
    if hasattr(module, "w_avg"):
        module.w_avg.normal_()
    if family.startswith("r3gan"):  # its residual branches start at zero: give them weights so that they count
        for parameter in module.parameters():
            if not parameter.detach().any():
                parameter.detach().normal_(0, 0.1)
    return LoadedGenerator(
        module.eval().requires_grad_(False), cfg, info, len(classes), 1.5, {"loss_g": 1.0}, f"test-{family}"
    )


def outputs(generator: LoadedGenerator, runner, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(PyTorch eval output, onnxruntime output) for a batch of 3 (the graph was traced with batch 2)."""
    with torch.no_grad():
        if generator.dataset.paired:
            source = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
            return generator.module(source), runner.translate_fn()(source)
        z, labels = generator.latents(range(3)), generator.labels_for(3, None)
        return generator.synthesize(z, labels, truncation=truncation), runner.synthesize(
            z, labels, truncation=truncation
        )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onnxruntime_matches_pytorch_eval(family):
    generator = make_generator(family)
    runner = from_generator(generator, threads=1)
    expected, actual = outputs(generator, runner, truncation=0.6)
    assert actual.shape == expected.shape and actual.dtype == torch.float32
    assert (actual - expected).abs().max().item() <= 1e-4
    if generator.dataset.paired:  # eval mode: deterministic and batch-independent
        source, run = torch.rand(3, 1, 32, 32) * 2 - 1, runner.translate_fn()
        assert torch.allclose(run(source)[1:2], run(source[1:2]), atol=1e-6) and torch.equal(run(source), run(source))
    else:  # psi is an input of the graph, not a constant of the export
        plain, plain_onnx = outputs(generator, runner, truncation=1.0)
        assert not torch.allclose(plain, expected, atol=1e-3)
        assert (plain_onnx - plain).abs().max().item() <= 1e-4


@pytest.mark.parametrize("family", ["dcgan-conditional", "pix2pix"])
def test_rewritten_graph_matches_pytorch_eval(family):
    generator = make_generator(family)
    expected, actual = outputs(generator, from_generator(generator, threads=1, rewrite=True), truncation=0.8)
    assert (actual - expected).abs().max().item() <= 1e-4
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.module.modules())  # the original is untouched


def test_metadata_and_generate_from_file(tmp_path):
    generator = make_generator("dcgan-conditional")
    path = export_onnx(generator, tmp_path / "digits.onnx")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == OPSET
    meta = {entry.key: entry.value for entry in model.metadata_props}
    assert (meta["model"], meta["resolution"], meta["channels"]) == ("dcgan", "16", "3")
    assert json.loads(meta["classes"]) == list(CLASSES)
    details = json.loads(meta["ganforge"])
    assert details["kind"] == "noise-to-image" and details["kimg"] == 1.5 and details["num_classes"] == 3
    assert [i.name for i in model.graph.input] == ["z", "psi", "labels"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    loaded = load_onnx(path, threads=1)
    assert loaded.dataset == generator.dataset and loaded.num_classes == 3 and loaded.model == generator.model
    images = loaded.generate(4, seed=7, classes=[0, 1, 2, 1])
    expected = generator.generate(4, seed=7, classes=[0, 1, 2, 1])
    assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1
    with pytest.raises(ConfigError, match="--class"):
        loaded.generate(2, classes=5)


def write_folder(family: str, folder):
    generator = make_generator(family)
    return write_export(folder, generator.module.state_dict(), describe_export(generator))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.slow
def test_cli_export_sample_and_backends(tmp_path):
    folder = write_folder("stylegan2-conditional", tmp_path / "sg")
    result = run("export", folder, "--format", "onnx", "--out", tmp_path / "sg.onnx")
    assert result.exit_code == 0, result.output
    assert "opset 17" in result.output and (tmp_path / "sg.onnx").is_file()
    grids = {}
    for name, args in {
        "torch": [folder],
        "ort": [folder, "--backend", "onnxruntime"],
        "file": [tmp_path / "sg.onnx"],
    }.items():
        grids[name] = tmp_path / f"{name}"
        result = run("sample", *args, "--num", "4", "--outdir", grids[name], "--truncation", "0.7", "--device", "cpu")
        assert result.exit_code == 0, result.output
    from PIL import Image

    pixels = {
        name: np.stack([np.asarray(Image.open(p)) for p in sorted(path.iterdir())]) for name, path in grids.items()
    }
    assert pixels["torch"].shape == (4, 16, 16, 3)
    for name in ("ort", "file"):
        assert np.abs(pixels[name].astype(int) - pixels["torch"].astype(int)).max() <= 1


def test_translate_backends_agree_on_tiled_images(tmp_path):
    folder = write_folder("pix2pix", tmp_path / "p2p")
    rng = np.random.default_rng(0)
    save_png(rng.integers(0, 256, (45, 70, 3), dtype=np.uint8), tmp_path / "in.png")  # tiled: larger than 32
    outputs = {}
    for backend in ("torch", "onnxruntime"):
        report = translate(folder, tmp_path / "in.png", tmp_path / f"{backend}.png", backend=backend)
        assert report.written == [tmp_path / f"{backend}.png"]
        from PIL import Image

        outputs[backend] = np.asarray(Image.open(report.written[0])).astype(int)
    assert outputs["torch"].shape == (45, 70, 3)
    assert np.abs(outputs["torch"] - outputs["onnxruntime"]).max() <= 1
    export_onnx(folder, tmp_path / "p2p.onnx")
    result = run("translate", tmp_path / "p2p.onnx", tmp_path / "in.png", "--out", tmp_path / "file.png")
    assert result.exit_code == 0, result.output
    assert "error" not in result.output and (tmp_path / "file.png").exists()


class FourierGenerator(torch.nn.Module):
    """A generator built on an operator ONNX has no counterpart for (a complex FFT)."""

    def forward(self, z, labels=None):
        return torch.fft.rfft2(z[:, None, :, None].expand(-1, 3, -1, 16)).abs()[..., :16, :16].tanh()


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch, capfd):
    generator = make_generator("dcgan")
    unexportable = LoadedGenerator(FourierGenerator(), generator.model, generator.dataset, 0, 0.0, {}, "fourier.pt")
    with pytest.raises(CheckpointError, match="cannot be exported to ONNX opset 17: .*fft_rfft2"):
        to_onnx(unexportable)
    assert "Torch IR graph" not in capfd.readouterr().out  # the exporter's debugging dump stays hidden

    folder = write_folder("dcgan", tmp_path / "dcgan")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 10)
    result = run("sample", garbage, "--num", "2", "--grid", tmp_path / "g.png")
    assert result.exit_code == 1 and "is not a readable ONNX model" in result.output
    foreign = tmp_path / "foreign.onnx"
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [node], "g", [value("x", onnx.TensorProto.FLOAT, [1])], [value("y", onnx.TensorProto.FLOAT, [1])]
    )
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)]), str(foreign))
    result = run("sample", foreign, "--num", "2", "--grid", tmp_path / "g.png")
    assert result.exit_code == 1 and "not a ganforge generator export" in result.output
    result = run("sample", tmp_path / "nope.onnx", "--num", "2", "--grid", tmp_path / "g.png")
    assert result.exit_code == 1 and "no such ONNX file" in result.output
    result = run("sample", foreign, "--backend", "torch", "--num", "2", "--grid", tmp_path / "g.png")
    assert result.exit_code == 1 and "only onnxruntime runs" in result.output
    result = run("export", folder, "--format", "onnx", "--out", tmp_path / "model.bin")
    assert result.exit_code == 1 and "ends in .onnx" in result.output
    save_png(np.zeros((8, 8, 3), dtype=np.uint8), tmp_path / "x.png")
    result = run("translate", folder, tmp_path / "x.png", "--out", tmp_path / "y.png", "--backend", "onnxruntime")
    assert result.exit_code == 1 and "generates from noise" in result.output
    assert not (tmp_path / "g.png").exists()

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    result = run("sample", folder, "--backend", "onnxruntime", "--num", "2", "--grid", tmp_path / "g.png")
    assert result.exit_code == 1 and "pip install 'ganforge[onnx]'" in result.output
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = run("export", folder, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 1 and "'onnx' package" in result.output and "ganforge[onnx]" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_default_backend(monkeypatch):
    from ganforge.artifacts import backend

    assert backend.backend_for("model.onnx", None) == "onnxruntime"
    assert backend.backend_for("runs/x", None) == "torch"
    assert backend.backend_for("runs/x", None, prefer_onnxruntime=True) == "onnxruntime"
    assert backend.backend_for("runs/x", "torch", prefer_onnxruntime=True) == "torch"
    monkeypatch.setattr(backend, "onnxruntime_installed", lambda: False)
    assert backend.backend_for("runs/x", None, prefer_onnxruntime=True) == "torch"


def _with_metadata(source, target, change) -> None:
    """Copy an ONNX file, with `change(meta)` applied to its ganforge metadata (a dict, or replaced by a string)."""
    model = onnx.load(str(source))
    entry = next(entry for entry in model.metadata_props if entry.key == "ganforge")
    meta = change(json.loads(entry.value))
    entry.value = meta if isinstance(meta, str) else json.dumps(meta)
    onnx.save(model, str(target))


def _set_field(section, key, value):
    return lambda meta: {**meta, section: {**meta[section], key: value}} if section else {**meta, key: value}


# metadata change -> the one error line's text: sizes the graph does not have are refused before any sampling
TAMPERED_METADATA = {
    "z-dim-huge": (_set_field("model", "z_dim", 10**10), "field 'model.z_dim' must be in 1..4096"),
    "z-dim-other": (
        _set_field("model", "z_dim", 7),
        "describes 'z' as ['batch', 7], but the graph's is ['batch', 100]",
    ),
    "classes-huge": (_set_field(None, "num_classes", 10**9), "field 'num_classes' must be in 0..10000"),
    "classes-none": (_set_field(None, "num_classes", 0), "describes inputs z, psi, but the graph takes z, psi, labels"),
    "classes-more": (_set_field(None, "num_classes", 9), "'num_classes' is 9, but 'dataset.class_names' names 3"),
    "resolution-false": (_set_field("dataset", "resolution", 64), "describes 'images' as ['batch', 3, 64, 64]"),
    "deep": (
        lambda meta: json.dumps(meta)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "JSON nested more than 32 levels deep",
    ),
}


def test_metadata_that_does_not_fit_the_graph_is_refused(tmp_path):
    folder = write_folder("dcgan-conditional", tmp_path / "cond")
    export_onnx(folder, tmp_path / "cond.onnx")
    for name, (change, text) in TAMPERED_METADATA.items():
        tampered = tmp_path / f"{name}.onnx"
        _with_metadata(tmp_path / "cond.onnx", tampered, change)
        result = CliRunner().invoke(main, ["sample", str(tampered), "--num", "2", "--grid", str(tmp_path / "g.png")])
        assert result.exit_code == 1 and isinstance(result.exception, (SystemExit, type(None))), (name, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and text in errors[0], (name, result.output)
    assert not (tmp_path / "g.png").exists()
