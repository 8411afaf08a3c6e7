"""Every command that takes a model accepts an NVIDIA network pickle directly; `ganforge import` writes a normal
export of it and `ganforge info` describes it without building it; its ONNX export matches PyTorch."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganforge
from ganforge.artifacts import foreign
from ganforge.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
PICKLE = FIXTURES / "sg2_16px_skip_resnet.pkl"
CONDITIONAL = FIXTURES / "sg2_8px_cond_resnet_skip.pkl"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_info_describes_without_building(monkeypatch):
    from ganforge import models

    monkeypatch.setattr(models, "build_generator", lambda *a, **k: pytest.fail("info built a network"))
    result = run("info", CONDITIONAL, "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["format"] == "nvidia-pickle" and details["architecture"] == "stylegan2-ada resnet"
    assert (details["resolution"], details["classes"], details["parameters"]) == (8, 3, 6158)
    assert set(details["contents"]) >= {"G", "D", "G_ema", "augment_pipe"} and details["augment_p"] == 0.123


def test_import_writes_an_export_that_draws_the_same_images(tmp_path):
    result = run("import", PICKLE, "--out", tmp_path / "imported")
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "imported").iterdir()} == {"config.json", "generator.safetensors"}
    exported, direct = ganforge.load(tmp_path / "imported"), ganforge.load(PICKLE)
    assert exported.model.name == "stylegan2-ada" and exported.model.arch_kwargs == direct.model.arch_kwargs
    assert np.array_equal(exported.generate(3, seed=5), direct.generate(3, seed=5))


def test_import_refuses_an_unknown_architecture(tmp_path):
    result = run("import", PICKLE, "--out", tmp_path / "x", "--arch", "biggan")
    assert result.exit_code == 1 and "--arch 'biggan'" in result.output and "stylegan2-ada" in result.output


def test_sampling_and_latent_commands_take_the_pickle(tmp_path):
    for args in (
        ("sample", PICKLE, "--num", 4, "--grid", tmp_path / "grid.png", "--truncation", 0.7),
        ("sample", CONDITIONAL, "--num", 3, "--grid", tmp_path / "cond.png", "--class", 2),
        ("mix", PICKLE, "--rows", "0-1", "--cols", "2-4", "--out", tmp_path / "mix.png"),
        ("interpolate", PICKLE, "--seeds", "1,2", "--frames", 4, "--out", tmp_path / "walk.png"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
    for name in ("grid.png", "cond.png", "mix.png", "walk.png"):
        assert Image.open(tmp_path / name).size[0] > 16


def test_project_directions_and_edit_take_the_pickle(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(photo)
    result = run("project", PICKLE, photo, "--out", tmp_path / "proj", "--steps", 3, "--space", "w+")
    assert result.exit_code == 0, result.output
    result = run("directions", PICKLE, "--method", "sefa", "--num", 2, "--out", tmp_path / "dirs.npz")
    assert result.exit_code == 0, result.output
    result = run(
        "edit",
        PICKLE,
        "--latent",
        tmp_path / "proj" / "latent.npz",
        "--direction",
        f"{tmp_path / 'dirs.npz'}:sefa1",
        "--strength",
        "-1:1:3",
        "--out",
        tmp_path / "edit.png",
    )
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_onnx_export_of_an_imported_generator_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from ganforge.artifacts.onnx import load_onnx

    for source in (PICKLE, CONDITIONAL):
        out = tmp_path / f"{source.stem}.onnx"
        result = run("export", source, "--format", "onnx", "--out", out)
        assert result.exit_code == 0, result.output
        generator, runner = ganforge.load(source), load_onnx(out, threads=1)
        z, labels = generator.latents(range(3)), generator.labels_for(3)
        for psi in (1.0, 0.6):
            with torch.no_grad():
                expected = generator.synthesize(z, labels, truncation=psi)
            assert (runner.synthesize(z, labels, truncation=psi) - expected).abs().max().item() <= 1e-4


def test_eval_takes_the_pickle_as_fake():
    from ganforge.metrics.evaluate import _generator_or_none

    generator = _generator_or_none(PICKLE)
    assert generator is not None and generator.model.name == "stylegan2-ada"


def test_the_studio_serves_the_pickle(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.studio.app import create_app

    app = create_app([PICKLE], tmp_path / "runs")
    with TestClient(app, base_url="http://127.0.0.1") as client:  # the studio checks Host
        (listed,) = client.get("/api/models").json()
        assert (listed["model"], listed["architecture"]) == ("nvidia-pickle", foreign.describe(PICKLE)["architecture"])
        info = client.get("/api/model", params={"model": listed["id"]}).json()
        assert info["has_styles"] and info["resolution"] == 16
        for url in ("/api/generate", "/api/mix"):
            response = client.get(url, params={"model": listed["id"]})
            assert response.status_code == 200 and response.content.startswith(b"\x89PNG"), response.text
