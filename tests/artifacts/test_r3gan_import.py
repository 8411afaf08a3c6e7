"""The R3GAN authors' network snapshots (brownvc/R3GAN) import as ganforge's r3gan family and compute what their code
computes; every command takes them; fine-tuning starts from them; a snapshot carrying code is refused.

The fixtures r3gan_16px_cond.pkl / r3gan_8px_uncond.pkl (+ .npz) were made once, outside this repository, with
brownvc/R3GAN (commit 19a7ddf) checked out in a scratch folder and run on the CPU under torch 2.13 (their custom ops
fall back to the reference path there; `requests`, `psutil` and `pkg_resources.parse_version` were stubbed, Adam's
betas written as floats as torch 2.13 asks):
1. `training.networks.Generator` / `Discriminator` built as their train.py builds them (dnnlib's
   `construct_class_by_name` with NoiseDimension, WidthPerStage, CardinalityPerStage, BlocksPerStage,
   ExpansionFactor 2, FP16Stages as their presets derive them, D's lists reversed; conditional: G's
   ConditionEmbeddingDimension = NoiseDimension, D's = WidthPerStage[0]); 16 px, widths 16-16-8, cardinality 2-2-1,
   1 block per stage, FP16Stages [-1, -2], z 16, 3 classes; 8 px, widths 16-8, cardinality 2-1, 1 block, FP16Stages
   [-1], z 8, unconditional. All weights then got N(0, 0.05^2) added (their zero-initialised layers count), G_ema a
   deepcopy of G; after step 2 (their EMA length starts at 0, so G_ema == G), G_ema's weights got N(0, 0.01^2).
2. Two steps of their training loop's body on random reals (their R3GANLoss D then G phase, Adam with their cosine
   lr / beta2 / gamma schedules, their EMA update), then the snapshot exactly as training_loop.py writes it:
   `pickle.dump(dict(G, D, G_ema, training_set_kwargs, cur_nimg, D_opt_state, G_opt_state))` of deep copies in eval
   mode (default protocol).
3. Reference outputs (.npz): z = RandomState(123).randn(4, z_dim) (as their gen_images.py), classes 0, 1, 2, 0 one-hot;
   `images_fp32`: G_ema with every stage's DataType set to float32; `images_native`: G_ema as stored (bfloat16 stages);
   `images_raw_fp32`: G in float32; `d_logits_fp32`: D (float32) on RandomState(7).randn images.
"""

import copy
import json
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganforge
from ganforge import models
from ganforge.artifacts import checkpoint as ckpt
from ganforge.artifacts import foreign
from ganforge.artifacts.foreign import r3gan, unpickle
from ganforge.cli import main
from ganforge.config import from_dict
from ganforge.data.base import DatasetInfo
from ganforge.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures"
CONDITIONAL, UNCONDITIONAL = FIXTURES / "r3gan_16px_cond.pkl", FIXTURES / "r3gan_8px_uncond.pkl"
TOLERANCE = 1e-4  # max |difference| of images about [-1, 1], float32, CPU
BFLOAT16_ROUNDING = 0.05  # their bfloat16 stages round each activation to 8 bits of mantissa


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _reference(path: Path) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in np.load(path.with_suffix(".npz")).items()}


@pytest.fixture(scope="module", params=[CONDITIONAL, UNCONDITIONAL], ids=["cond", "uncond"])
def imported(request):
    generator = ganforge.load(request.param)
    ref = _reference(request.param)
    return generator, ref, ref["labels"] if generator.num_classes else None


def test_image_from_z_and_class_matches_their_float32_output(imported):
    generator, ref, labels = imported
    ours = generator.synthesize(ref["z"], labels)
    assert ours.shape == ref["images_fp32"].shape
    assert (ours - ref["images_fp32"]).abs().max().item() <= TOLERANCE


def test_their_bfloat16_output_differs_by_its_rounding_only(imported):
    generator, ref, labels = imported
    assert (generator.synthesize(ref["z"], labels) - ref["images_native"]).abs().max().item() <= BFLOAT16_ROUNDING


@pytest.mark.parametrize("path", [CONDITIONAL, UNCONDITIONAL], ids=["cond", "uncond"])
def test_discriminator_and_raw_generator_match(path):
    model = foreign.read(path)
    ref = _reference(path)
    G, D = models.build(
        from_dict({"model": model.model}).model, DatasetInfo.from_dict(model.dataset), model.num_classes
    )
    G.load_state_dict(model.generator_raw)
    D.load_state_dict(model.discriminator)
    labels = ref["labels"] if model.num_classes else None
    with torch.no_grad():
        assert (D.eval()(ref["d_images"], labels) - ref["d_logits_fp32"]).abs().max().item() <= TOLERANCE
        assert (G.eval()(ref["z"], labels) - ref["images_raw_fp32"]).abs().max().item() <= TOLERANCE
    assert not torch.equal(
        model.generator["aggregation_layer.layer.weight"], model.generator_raw["aggregation_layer.layer.weight"]
    )


def test_what_the_reader_takes_from_the_snapshot():
    model = foreign.read(CONDITIONAL)
    assert model.format == "r3gan-pickle" and model.num_classes == 3 and model.kimg == pytest.approx(0.008)
    assert model.model == {
        "name": "r3gan",
        "z_dim": 16,
        "g_channels": 8,
        "d_channels": 8,
        "max_channels": 16,
        "blocks_per_stage": 1,
        "group_channels": 16,
    }
    assert model.dataset["resolution"] == 16 and model.dataset["name"] == "r3gan_16px_cond.zip"
    assert set(model.contents) == {"G", "D", "G_ema", "training_set_kwargs", "cur_nimg", "D_opt_state", "G_opt_state"}
    assert (
        r3gan.ganforge_name("Model.MainLayers.1.Layers.0.NonLinearity1.Bias")
        == "main_layers.1.layers.0.non_linearity1.bias"
    )


def test_info_says_what_is_inside_without_building(monkeypatch):
    monkeypatch.setattr(models, "build_generator", lambda *a, **k: pytest.fail("info built a network"))
    result = run("info", CONDITIONAL, "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["format"] == "r3gan-pickle" and details["architecture"].startswith("r3gan widths 16-16-8")
    assert (details["resolution"], details["classes"], details["parameters"]) == (16, 3, 14952)
    assert details["bfloat16_stages"] == {"G": [1, 2], "G_ema": [1, 2], "D": [0, 1]}


def test_import_and_sample_take_the_snapshot(tmp_path):
    result = run("import", CONDITIONAL, "--out", tmp_path / "imported")
    assert result.exit_code == 0, result.output
    exported, direct = ganforge.load(tmp_path / "imported"), ganforge.load(CONDITIONAL)
    assert exported.model.name == "r3gan" and exported.model.blocks_per_stage == 1
    assert np.array_equal(exported.generate(3, seed=5, classes=2), direct.generate(3, seed=5, classes=2))
    result = run("sample", UNCONDITIONAL, "--num", 4, "--grid", tmp_path / "grid.png")
    assert result.exit_code == 0 and (tmp_path / "grid.png").is_file(), result.output
    result = run("import", CONDITIONAL, "--out", tmp_path / "x", "--arch", "stylegan2-ada")
    assert result.exit_code == 1 and "--arch 'stylegan2-ada'" in result.output and "r3gan" in result.output


@pytest.mark.slow
def test_fine_tuning_starts_from_the_snapshot(tmp_path):
    from PIL import Image

    from ganforge.training import train

    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / "data" / name / f"{index}.png"
            )
    pretrained = foreign.read(CONDITIONAL)
    result = train(
        overrides={
            "data.source": str(tmp_path / "data"),
            "data.cond": True,
            "train.init": str(CONDITIONAL),
            "loss.name": "rpgan",
            "loss.r1_gamma": 0.05,
            "loss.r2_gamma": 0.05,
            "train.batch": 4,
            "train.total_kimg": 0.008,
            "train.snapshot_every_kimg": 0.008,
            "train.grid_size": 4,
            "train.out": str(tmp_path / "runs"),
        },
        progress=False,
        tensorboard=False,
    )
    state = ckpt.load(result.checkpoint)
    assert state["config"]["model"]["name"] == "r3gan" and state["config"]["model"]["blocks_per_stage"] == 1
    for network, stored in (("G", pretrained.generator_raw), ("D", pretrained.discriminator)):
        changed = [k for k in state[network] if not torch.equal(state[network][k], stored[k])]
        assert changed and max((state[network][k] - stored[k]).abs().max().item() for k in changed) < 0.05


# ---- hostile snapshots: R3GAN-shaped, written with stand-ins for their classes ------------------------------------
@pytest.fixture
def their_classes(monkeypatch):
    """Modules named as theirs (training.networks, R3GAN.Networks) holding empty classes, so that the standard
    pickler writes objects of those names (NEWOBJ + BUILD, as a pickled torch module)."""
    classes = {}
    for package in ("training", "R3GAN"):
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    for module, name in (("training.networks", "Generator"), ("R3GAN.Networks", "Generator")):
        holder = types.ModuleType(module)
        cls = type(name, (), {"__module__": module})
        setattr(holder, name, cls)
        monkeypatch.setitem(sys.modules, module, holder)
        classes[module] = cls
    return classes


class _Reduce:
    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _snapshot(their_classes, model_state: dict) -> dict:
    wrapper, model = their_classes["training.networks"](), their_classes["R3GAN.Networks"]()
    model.__dict__.update(model_state)
    wrapper.__dict__.update({"_modules": {"Model": model}, "_parameters": {}, "_buffers": {}, "z_dim": 4})
    return {"G": wrapper, "G_ema": copy.copy(wrapper)}


def test_an_r3gan_snapshot_carrying_code_is_refused(tmp_path, their_classes):
    marker = tmp_path / "marker"
    snapshot = _snapshot(their_classes, {"_parameters": {}, "payload": _Reduce(os.system, f"touch {marker}")})
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(pickle.dumps(snapshot, protocol=4))
    assert foreign.reader_for(path).name == "r3gan-pickle"  # it looks like theirs
    with pytest.raises(CheckpointError, match="refused global posix.system") as error:
        ganforge.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_calling_one_of_their_classes_is_refused(tmp_path, their_classes, monkeypatch):
    """A module class is only ever rebuilt from its state (NEWOBJ + BUILD); a pickle calling it (REDUCE) with
    arguments, or calling a class off the list, is refused."""
    path = tmp_path / "call.pkl"
    path.write_bytes(pickle.dumps({"G": _Reduce(their_classes["training.networks"], "rm -rf /")}, protocol=4))
    with pytest.raises(CheckpointError, match="refused"):
        unpickle.load(path)
    evil = type("Evil", (), {"__module__": "training.networks"})
    monkeypatch.setattr(sys.modules["training.networks"], "Evil", evil, raising=False)
    path.write_bytes(pickle.dumps({"G": evil()}, protocol=4))
    with pytest.raises(CheckpointError, match="refused global training.networks.Evil"):
        unpickle.load(path)


def test_a_snapshot_of_other_networks_names_the_file(tmp_path, their_classes):
    snapshot = _snapshot(their_classes, {"_parameters": {}})
    snapshot["G"] = snapshot["G_ema"] = their_classes["R3GAN.Networks"]()  # not wrapped as their training does
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(snapshot, protocol=4))
    with pytest.raises(
        CheckpointError, match=r"odd.pkl: G is a R3GAN.Networks.Generator, not R3GAN's training.networks.Generator"
    ):
        ganforge.load(path)


def test_plain_modules_are_not_taken_for_nvidia_networks(tmp_path, their_classes):
    """A snapshot whose first bytes do not show their module names goes to the NVIDIA reader, which says what it
    found instead of reading R3GAN's modules as persistence records."""
    snapshot = {"note": "x" * 80, **_snapshot(their_classes, {"_parameters": {}})}
    path = tmp_path / "late.pkl"
    path.write_bytes(pickle.dumps(snapshot, protocol=4))
    assert foreign.reader_for(path).name == "nvidia-pickle"
    with pytest.raises(CheckpointError, match="late.pkl: G is a training.networks.Generator pickled as a plain module"):
        ganforge.load(path)
