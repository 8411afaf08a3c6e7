"""NVlabs stylegan3 -T and -R network pickles: read safely, rebuilt by ganforge's own alias-free generator, and
computing the original code's images (max |delta| <= 1e-4, fp32, CPU).

The fixtures in tests/artifacts/fixtures/ were made once, outside this repository, with NVlabs' own code
(github.com/NVlabs/stylegan3, training/networks_stylegan3.py; on CPU their ops take the reference paths:
`filtered_lrelu` built from `upfirdn2d` + `bias_act`). The procedure, so that they can be remade:
1. In a scratch checkout of their repository, build the generator as their train.py does for `--cfg stylegan3-t`
   (z_dim = w_dim = 16, mapping num_layers 2, channel_base 128, channel_max 16, 32 px, unconditional) and for
   `--cfg stylegan3-r` (conv_kernel 1, use_radial_filters, doubled channel_base 256 / channel_max 32, 16 px, 3
   classes, conv_clamp 1.0 so that the clamp is exercised), each with num_fp16_res 4 and their
   magnitude_ema_beta; D is their networks_stylegan2.Discriminator (tiny), augment_pipe their AugmentPipe (p 0.25).
2. Add N(0, 0.3^2) noise to every parameter (fresh biases are zero and the Fourier affine is the identity), scale
   the toRGB weight by 0.15 (images of about [-1, 1]), run G with update_emas=True three times, then set each
   magnitude_ema to a random value in [0.5, 2]; -T also gets a user transform (rotation 0.3 rad, shift (0.1,
   -0.05)) in `synthesis.input.transform`.
3. Pickle dict(G, D, G_ema = deepcopy(G).eval(), augment_pipe, training_set_kwargs) as their training loop does,
   with every persistent class's `_orig_module_src` set to a one-line placeholder string for the dump: no NVIDIA
   source is in these files, and ganforge never needs it.
4. Reference outputs of G_ema (saved as <name>.reference.npz): z = randn(3, 16) from torch seed 7, labels
   [0, 2, 1] (-R); `image` = G(z, c, psi 1, noise const); `ws` = mapping(z, c); `image_mix` = synthesis(ws_mix)
   with ws_mix = ws with layers >= 5 taken from the previous sample; `ws_trunc` / `image_trunc` at psi 0.6 (all
   layers); `ws_cut` / `image_cut` at psi 0.6 with truncation_cutoff 8; `w_avg`.
"""

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganforge
from ganforge import models
from ganforge.artifacts.foreign import unpickle
from ganforge.cli import main
from ganforge.models.stylegan3 import StyleGAN3Generator

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGS = ["stylegan3-t-32", "stylegan3-r-16-cond"]
TOLERANCE = 1e-4  # the bound on max |delta| against the original code, images in [-1, 1]


def reference(name: str) -> dict[str, torch.Tensor]:
    with np.load(FIXTURES / f"{name}.reference.npz") as data:
        return {key: torch.from_numpy(np.asarray(data[key])) for key in data.files}


def labels_of(ref: dict[str, torch.Tensor], generator) -> torch.Tensor | None:
    return ref["labels"] if generator.c_dim else None


@cache
def record_of(name: str) -> unpickle.PersistentRecord:
    """The fixture's G_ema as read by the restricted unpickler (read once per test session)."""
    return unpickle.load(FIXTURES / f"{name}.pkl")["G_ema"]


def module_from_record(name: str) -> StyleGAN3Generator:
    """ganforge's generator from the pickle's G_ema record: its stored constructor kwargs and tensors as they are."""
    record = record_of(name)
    module = StyleGAN3Generator(**record.init_kwargs).eval()
    module.load_state_dict(record.tensors(), strict=True)
    return module


def max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.slow
def test_module_computes_nvidia_images(name):
    module, ref = module_from_record(name), reference(name)
    labels = labels_of(ref, module)
    with torch.no_grad():
        assert max_delta(module(ref["z"], labels), ref["image"]) <= TOLERANCE
        assert max_delta(module.map(ref["z"], labels), ref["ws"]) <= TOLERANCE
        assert max_delta(module.synthesis(ref["ws_mix"]), ref["image_mix"]) <= TOLERANCE  # style mixing
        ws_cut = module.map(ref["z"], labels, psi=float(ref["truncation_psi"]), cutoff=int(ref["truncation_cutoff"]))
        assert max_delta(ws_cut, ref["ws_cut"]) <= TOLERANCE
        assert max_delta(module.synthesis(ws_cut), ref["image_cut"]) <= TOLERANCE
    assert torch.equal(module.w_avg, ref["w_avg"])


@pytest.mark.parametrize("name", CONFIGS)
def test_filters_and_layout_are_designed_as_nvidia(name):
    """Built from the stored kwargs alone (no weights loaded): the same parameter/buffer names and shapes, and the
    same low-pass filters (separable Kaiser; -R: radial jinc for the non-critical layers)."""
    record = record_of(name)
    stored, built = record.tensors(), StyleGAN3Generator(**record.init_kwargs).state_dict()
    assert {k: tuple(v.shape) for k, v in built.items()} == {k: tuple(v.shape) for k, v in stored.items()}
    filters = [key for key in stored if key.endswith("_filter")]
    assert filters and max(max_delta(built[key], stored[key]) for key in filters) < 1e-7
    radial = any(stored[key].ndim == 2 for key in filters)
    assert radial == name.startswith("stylegan3-r")


@pytest.mark.slow
def test_fixtures_exercise_clamp_transform_and_magnitude():
    """The parity above is not vacuous: the -R fixture's conv_clamp, the -T fixture's user transform and the
    magnitude EMAs each change the images."""
    r_name, t_name = CONFIGS[1], CONFIGS[0]
    r, t = module_from_record(r_name), module_from_record(t_name)
    ref_r, ref_t = reference(r_name), reference(t_name)
    with torch.no_grad():
        for layer in r.synthesis.layer_names:
            getattr(r.synthesis, layer).conv_clamp = None
        assert max_delta(r(ref_r["z"], ref_r["labels"]), ref_r["image"]) > 1e-3
        t.synthesis.input.transform.copy_(torch.eye(3))
        assert max_delta(t(ref_t["z"]), ref_t["image"]) > 1e-3
        t = module_from_record(t_name)
        getattr(t.synthesis, t.synthesis.layer_names[3]).magnitude_ema.fill_(1.0)
        assert max_delta(t(ref_t["z"]), ref_t["image"]) > 1e-3


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.slow
def test_load_pickle_samples_like_nvidia(name):
    """`ganforge.load(pkl)` through the foreign reader: z -> image, ws -> image (mixing), truncation toward the
    stored w_avg, all within the bound."""
    generator, ref = ganforge.load(FIXTURES / f"{name}.pkl"), reference(name)
    labels = ref["labels"] if generator.num_classes else None
    psi = float(ref["truncation_psi"])
    assert max_delta(generator.synthesize(ref["z"], labels), ref["image"]) <= TOLERANCE
    assert max_delta(generator.synthesize_styles(ref["ws_mix"]), ref["image_mix"]) <= TOLERANCE
    assert max_delta(generator.styles(ref["z"], labels, truncation=psi), ref["ws_trunc"]) <= TOLERANCE
    assert max_delta(generator.synthesize(ref["z"], labels, truncation=psi), ref["image_trunc"]) <= TOLERANCE
    images = generator.generate(4, seed=3)
    assert images.shape == (4, ref["image"].shape[-1], ref["image"].shape[-1], 3) and images.dtype == np.uint8


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_info_names_the_stylegan3_config_without_building():
    result = run("info", FIXTURES / "stylegan3-r-16-cond.pkl", "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["format"] == "nvidia-pickle" and details["architecture"] == "stylegan3-r"
    assert details["resolution"] == 16 and details["classes"] == 3 and details["augment_p"] == pytest.approx(0.25)
    assert set(details["contents"]) >= {"G", "G_ema", "D", "augment_pipe"}
    t_details = ganforge.describe(FIXTURES / "stylegan3-t-32.pkl")
    assert t_details["architecture"] == "stylegan3-t" and t_details["classes"] == "unconditional"


@pytest.mark.slow
def test_export_sample_mix_and_project_work_on_a_pickle(tmp_path):
    """The pickle is a model like any other: imported as safetensors + JSON (same images), sampled, mixed and
    projected into by the CLI."""
    pkl = FIXTURES / "stylegan3-r-16-cond.pkl"
    assert run("import", pkl, "--out", tmp_path / "exported").exit_code == 0
    exported = ganforge.load(tmp_path / "exported")
    assert exported.model.name == "stylegan3" and exported.num_classes == 3
    assert np.array_equal(exported.generate(4, seed=5, classes=1), ganforge.load(pkl).generate(4, seed=5, classes=1))
    result = run("sample", pkl, "--num", 4, "--class", 2, "--grid", tmp_path / "grid.png")
    assert result.exit_code == 0 and (tmp_path / "grid.png").exists(), result.output
    t_pkl = FIXTURES / "stylegan3-t-32.pkl"
    assert run("mix", t_pkl, "--rows", "1,2", "--cols", "3,4", "--out", tmp_path / "mix.png").exit_code == 0
    photo = tmp_path / "photo.png"
    Image.fromarray(ganforge.load(t_pkl).generate(1, seed=9)[0]).save(photo)
    result = run("project", t_pkl, photo, "--out", tmp_path / "proj", "--steps", 2)
    assert result.exit_code == 0 and (tmp_path / "proj" / "latent.npz").exists(), result.output


def test_arch_that_contradicts_the_file_is_one_clear_line(tmp_path):
    result = run("import", FIXTURES / "stylegan3-t-32.pkl", "--out", tmp_path / "x", "--arch", "stylegan2-ada")
    assert result.exit_code != 0 and "holds a stylegan3 generator, not a stylegan2-ada one" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_training_stylegan3_is_refused_with_the_reason(tmp_path):
    generator = ganforge.load(FIXTURES / "stylegan3-t-32.pkl")
    with pytest.raises(ganforge.ConfigError, match="StyleGAN3 is not supported"):
        models.build(generator.model, generator.dataset)
    result = run("train", "--model", "stylegan3", "--data", "shapes", "--resolution", 16, "--out", tmp_path)
    assert result.exit_code != 0 and "stylegan3" in result.output and "Traceback" not in result.output
    result = run("train", "--init", FIXTURES / "stylegan3-t-32.pkl", "--data", "shapes", "--out", tmp_path / "runs")
    assert result.exit_code != 0 and "fine-tuning with --init) StyleGAN3 is not supported" in result.output
    assert "Traceback" not in result.output and not list((tmp_path / "runs").glob("*"))  # no run folder made


@pytest.mark.slow
def test_onnx_export_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from ganforge.artifacts.onnx import load_onnx

    ref = reference("stylegan3-t-32")
    path = ganforge.export(FIXTURES / "stylegan3-t-32.pkl", tmp_path / "t.onnx", format="onnx")
    images = load_onnx(path).synthesize(ref["z"], batch_size=3)
    assert max_delta(images, ref["image"]) <= TOLERANCE


def test_sefa_directions_read_the_style_affines():
    from ganforge.latent.directions import sefa

    generator = ganforge.load(FIXTURES / "stylegan3-t-32.pkl")
    weights = generator.module.style_weights()
    assert len(weights) == generator.module.num_ws and weights[0].shape == (4, 16)  # ws 0: the input's transform
    found = sefa(generator, num=3, layers=[1, 2, 3])
    assert found.vectors.shape == (3, generator.module.w_dim)


def test_numpy_arrays_read_but_not_their_subclasses(tmp_path):
    """StyleGAN3 records hold small numpy arrays (layer sizes); the allow-list rebuilds plain ndarrays only."""
    import pickle

    plain = tmp_path / "array.pkl"
    plain.write_bytes(pickle.dumps({"size": np.broadcast_to(np.asarray(36), [2])}, protocol=2))
    assert np.array_equal(unpickle.load(plain)["size"], [36, 36])
    other = tmp_path / "subtype.pkl"  # numpy's _reconstruct asked to build an OrderedDict
    other.write_bytes(b"\x80\x03cnumpy.core.multiarray\n_reconstruct\nccollections\nOrderedDict\nK\x00\x85C\x01b\x87R.")
    with pytest.raises(ganforge.CheckpointError, match="refused numpy array subtype 'OrderedDict'"):
        unpickle.load(other)


@pytest.mark.slow
def test_the_studio_serves_a_stylegan3_pickle(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.studio.app import create_app

    app = create_app([FIXTURES / "stylegan3-r-16-cond.pkl"], tmp_path / "runs")
    with TestClient(app, base_url="http://127.0.0.1") as client:  # the studio checks Host
        (listed,) = client.get("/api/models").json()
        info = client.get("/api/model", params={"model": listed["id"]}).json()
        assert info["has_styles"] and info["resolution"] == 16
        for url in ("/api/generate", "/api/mix"):
            response = client.get(url, params={"model": listed["id"]})
            assert response.status_code == 200 and response.content.startswith(b"\x89PNG"), response.text
