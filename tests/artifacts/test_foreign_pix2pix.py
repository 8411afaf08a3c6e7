"""Generator files of the pix2pix/CycleGAN authors' code (junyanz/pytorch-CycleGAN-and-pix2pix), read by
artifacts/foreign/pix2pix.py: exact outputs, `info`, `translate`, and one clear line for bad files.

How the fixtures in fixtures/pix2pix/ were made (once, outside the repo; none of their code is in ganforge):
their `models/networks.py` generator classes (`define_G`, `UnetGenerator`, `UnetSkipConnectionBlock`,
`ResnetGenerator`, `ResnetBlock`, `get_norm_layer`) in a scratch folder, CPU, torch 2.13. For each configuration
below: `net = define_G(input_nc, output_nc, ngf, netG, norm, use_dropout)`; every conv weight re-drawn
N(0, 1/fan_in), biases N(0, 0.1), batch-norm scales N(1, 0.2) and shifts N(0, 0.1) (so that no parameter is
trivially 0 or 1); 20 forward passes in training mode on N(0, 0.25) batches of 2 (non-trivial running statistics);
`torch.save(net.cpu().state_dict(), NAME.pth)` as their `BaseModel.save_networks` does. The 2018 file
(`resnet9old`) was built with their 2018 norm layer, `InstanceNorm2d(affine=False, track_running_stats=True)`, so
it carries the running-statistics keys of that era; it is also re-saved in torch's legacy (pre-1.6, non-zip) format,
as the authors' published files of that time are. Reference: today's code (instance norm without running
statistics), the file loaded through their `load_networks` path (stale instance-norm keys dropped), `net.eval()`
(their `test.py --eval`), applied to `pattern(input_nc, size)` below; the output, subsampled by `stride` to at most
64 x 64, is NAME.npz["output"].

| file                      | --netG          | norm     | dropout | ngf | in -> out | input |
| unet128_net_G.pth         | unet_128        | batch    | yes     | 2   | 1 -> 3    | 128   |
| unet256_net_G.pth         | unet_256        | batch    | yes     | 2   | 3 -> 3    | 256   |
| resnet6_net_G_A.pth       | resnet_6blocks  | instance | no      | 4   | 3 -> 3    | 64    |
| resnet9old_net_G_A.pth    | resnet_9blocks  | instance | no      | 4   | 3 -> 3    | 64    | (2018 keys, legacy)
| resnet6bn_net_G.pth       | resnet_6blocks  | batch    | yes     | 2   | 3 -> 1    | 48    | (pix2pix + resnet)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.artifacts import describe
from ganforge.artifacts.generator import load
from ganforge.cli import main
from ganforge.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "pix2pix"
TOLERANCE = 1e-4  # max |delta| against their network (issue 29); measured: <= 1e-7
CASES = {  # file stem -> (architecture text `info` shows, resolution)
    "unet128_net_G": ("unet_128 (batch norm, ngf 2, 1 -> 3 channels)", 128),
    "unet256_net_G": ("unet_256 (batch norm, ngf 2, 3 -> 3 channels)", 256),
    "resnet6_net_G_A": ("resnet_6blocks (instance norm, ngf 4, 3 -> 3 channels)", 256),
    "resnet9old_net_G_A": ("resnet_9blocks (instance norm, ngf 4, 3 -> 3 channels)", 256),
    "resnet6bn_net_G": ("resnet_6blocks (batch norm, dropout, ngf 2, 3 -> 1 channels)", 256),
}


def pattern(channels: int, size: int) -> torch.Tensor:
    """The input the references were computed on: [1, C, S, S] in [-1, 1]."""
    c, i, j = np.meshgrid(np.arange(channels), np.arange(size), np.arange(size), indexing="ij")
    x = np.sin(0.37 * i * (c + 1) + 0.23 * j) * np.cos(0.11 * j * (c + 2) - 0.05 * i)
    return torch.from_numpy(x.astype(np.float32))[None]


@pytest.mark.parametrize("stem", sorted(CASES))
def test_output_equals_their_network_in_eval_mode(stem):
    reference = np.load(FIXTURES / f"{stem}.npz")
    generator = load(FIXTURES / f"{stem}.pth")
    assert not generator.module.training
    size, stride = int(reference["size"]), int(reference["stride"])
    with torch.no_grad():
        output = generator.module(pattern(int(reference["in_channels"]), size))
    delta = np.abs(output[0, :, ::stride, ::stride].numpy() - reference["output"]).max()
    assert delta <= TOLERANCE, (stem, delta)
    assert reference["output"].std() > 0.05  # the reference is not a near-constant image


@pytest.mark.parametrize("stem", sorted(CASES))
def test_info_names_the_architecture(stem):
    architecture, resolution = CASES[stem]
    details = describe(FIXTURES / f"{stem}.pth")
    assert details["format"] == "pix2pix"
    assert details["architecture"] == architecture
    assert details["resolution"] == resolution
    assert ("stale_keys" in details) == (stem == "resnet9old_net_G_A")
    legacy = not (FIXTURES / f"{stem}.pth").read_bytes().startswith(b"PK")
    assert legacy == (stem == "resnet9old_net_G_A")  # torch < 1.6 files are read too


def test_imported_model_is_a_pix2pix_model():
    unet = load(FIXTURES / "unet256_net_G.pth")
    assert (unet.model.name, unet.model.g_arch, unet.model.g_channels, unet.model.g_norm) == (
        "pix2pix",
        "unet",
        2,
        "batch",
    )
    assert (unet.dataset.input_channels, unet.dataset.channels, unet.dataset.resolution) == (3, 3, 256)
    resnet = load(FIXTURES / "resnet9old_net_G_A.pth")
    assert (resnet.model.g_arch, resnet.model.g_norm) == ("resnet_9blocks", "instance")


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("stem", ["unet128_net_G", "resnet6_net_G_A"])
def test_translate_and_info_commands(stem, tmp_path):
    source = tmp_path / "input.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(source)
    result = _run("translate", FIXTURES / f"{stem}.pth", source, "--out", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (90, 70) and image.mode == "RGB"
        assert np.asarray(image).std() > 1  # not a blank image
    result = _run("info", FIXTURES / f"{stem}.pth")
    assert result.exit_code == 0, result.output
    assert CASES[stem][0] in result.output and "pix2pix" in result.output


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase its error must contain)."""
    source = FIXTURES / "unet128_net_G.pth"
    state = torch.load(source, weights_only=True)
    files = {}

    def save(name: str, value, phrase: str) -> None:
        path = tmp_path / (name if name.endswith(".pth") else f"{name}_net_G.pth")
        torch.save(value, path)
        files[name] = (path, phrase)

    (tmp_path / "empty_net_G.pth").write_bytes(b"")
    files["empty"] = (tmp_path / "empty_net_G.pth", "empty")
    (tmp_path / "truncated_net_G.pth").write_bytes(source.read_bytes()[:4000])
    files["truncated"] = (tmp_path / "truncated_net_G.pth", "truncated")
    save("other", {"encoder.weight": torch.zeros(3, 3), "decoder.bias": torch.zeros(3)}, "")
    save("missing", {k: v for k, v in state.items() if k != "model.model.1.model.2.running_var"}, "missing")
    save("extra", {**state, "model.model.1.model.9.weight": torch.zeros(2)}, "do not fit")
    save("shape", {**state, "model.model.1.model.1.weight": torch.zeros(4, 2, 3, 3)}, "shape")
    save("module", torch.nn.Conv2d(1, 2, 3), "pickled")  # a whole module, not a state dict
    # the keys and shapes of their NLayerDiscriminator (a *_net_D.pth file)
    patch_gan = {
        "model.0.weight": torch.zeros(8, 6, 4, 4),
        "model.0.bias": torch.zeros(8),
        "model.2.weight": torch.zeros(16, 8, 4, 4),
        "model.3.weight": torch.ones(16),
        "model.3.bias": torch.zeros(16),
        "model.5.weight": torch.zeros(1, 16, 4, 4),
        "model.5.bias": torch.zeros(1),
    }
    save("latest_net_D.pth", patch_gan, "discriminator")
    return files


def test_bad_files_give_one_line_naming_the_file(tmp_path):
    for name, (path, phrase) in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError) as caught:
            load(path)
        message = str(caught.value)
        assert path.name in message and "\n" not in message, (name, message)
        assert phrase in message, (name, message)
        result = _run("translate", path, FIXTURES / "unet128_net_G.npz", "--out", tmp_path / "x.png")
        assert result.exit_code != 0 and path.name in result.output and "Traceback" not in result.output, name


def test_studio_sketch_page_lists_and_translates_the_file(tmp_path):
    """The Sketch page offers models whose listing says `paired`; it posts the drawing to /api/translate."""
    from fastapi.testclient import TestClient

    from ganforge.studio.app import create_app

    drawing = tmp_path / "drawing.png"
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(drawing)
    app = create_app([FIXTURES / "unet128_net_G.pth"], tmp_path / "runs")
    with TestClient(app, base_url="http://127.0.0.1") as client:  # the studio checks Host
        (entry,) = client.get("/api/models").json()
        assert (entry["model"], entry["paired"]) == ("pix2pix", True)
        response = client.post(
            "/api/translate",
            params={"model": entry["id"]},
            files={"image": ("drawing.png", drawing.read_bytes(), "image/png")},
        )
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert np.asarray(Image.open(io.BytesIO(response.content))).shape == (40, 50, 3)


def test_import_writes_an_export_with_the_same_outputs(tmp_path):
    stem = "resnet9old_net_G_A"
    result = _run("import", FIXTURES / f"{stem}.pth", "--out", tmp_path / "export")
    assert result.exit_code == 0, result.output
    reference = np.load(FIXTURES / f"{stem}.npz")
    with torch.no_grad():
        output = load(tmp_path / "export").module(pattern(3, int(reference["size"])))
    assert np.abs(output[0].numpy() - reference["output"]).max() <= TOLERANCE
    result = _run("import", FIXTURES / f"{stem}.pth", "--out", tmp_path / "other", "--arch", "unet_256")
    assert result.exit_code != 0 and "resnet_9blocks" in result.output
