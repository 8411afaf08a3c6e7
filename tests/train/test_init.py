"""Fine-tuning from an imported NVIDIA pickle (`--init`) with FreezeD (`--freeze-d`): the run starts from the
pickle's G, G_ema, D and ADA p with its architecture, keeps frozen blocks fixed, and is an ordinary run (resumable,
exportable); flags that contradict the pretrained network are refused with the reason."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.artifacts import foreign
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.training import train

FIXTURES = Path(__file__).parents[1] / "artifacts" / "fixtures"
CONDITIONAL = FIXTURES / "sg2_8px_cond_resnet_skip.pkl"  # 8 px, 3 classes, D blocks b8 + epilogue b4


@pytest.fixture
def three_classes(tmp_path) -> Path:
    """A folder of 8x8 images in three class sub-folders."""
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(6):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / "data" / name / f"{index}.png"
            )
    return tmp_path / "data"


def _overrides(tmp_path, data, **more):
    return {
        "data.source": str(data),
        "data.cond": True,
        "train.init": str(CONDITIONAL),
        "train.batch": 8,
        "train.total_kimg": 0.016,
        "train.snapshot_every_kimg": 0.016,
        "train.grid_size": 4,
        "augment.policy": "ada",
        "train.out": str(tmp_path / "runs"),
        **more,
    }


@pytest.mark.slow
def test_fine_tuning_starts_from_the_pickle_and_freezes_d(tmp_path, three_classes):
    pretrained = foreign.read(CONDITIONAL)
    result = train(
        overrides=_overrides(tmp_path, three_classes, **{"train.freeze_d": 1}), progress=False, tensorboard=False
    )
    state = ckpt.load(result.checkpoint)
    assert state["config"]["model"]["name"] == "stylegan2-ada" and state["config"]["data"]["resolution"] == 8
    assert state["config"]["model"]["arch_kwargs"] == pretrained.model["arch_kwargs"]
    D = state["D"]  # the first block (b8, the image side) is frozen; the epilogue trained
    assert all(torch.equal(D[k], pretrained.discriminator[k]) for k in D if k.startswith("b8."))
    assert not all(torch.equal(D[k], pretrained.discriminator[k]) for k in D if k.startswith("b4."))
    G = state["G"]  # G trained from the pickle's (non-EMA) G: changed, but only a little
    changed = [k for k in G if not torch.equal(G[k], pretrained.generator_raw[k])]
    assert changed and max((G[k] - pretrained.generator_raw[k]).abs().max().item() for k in changed) < 0.05
    assert abs(result.stats["augment_p"] - 0.123) < 0.01  # ADA's p continued from the stored one
    resumed = train(
        resume=result.run_dir,
        overrides={"train.total_kimg": 0.024, "train.out": str(tmp_path / "runs")},
        progress=False,
        tensorboard=False,
    )
    assert resumed.kimg > result.kimg
    assert ganforge.load(resumed.run_dir).generate(2, classes=1).shape == (2, 8, 8, 3)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"model.z_dim": 64}, "--z-dim 64 contradicts --init"),
        ({"model.name": "dcgan"}, "--model 'dcgan' contradicts --init"),
        ({"data.resolution": 32}, "--resolution 32 contradicts --init"),
        ({"model.g_channels": 32}, "--g-channels 32 contradicts --init"),
        ({"data.cond": False}, "class-conditional (3 classes)"),
        ({"train.freeze_d": 2}, "--freeze-d 2: the stylegan2-ada discriminator has 2 blocks"),
    ],
)
def test_contradicting_flags_are_refused(tmp_path, three_classes, flags, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(overrides=_overrides(tmp_path, three_classes, **flags), progress=False, tensorboard=False)
    assert not list((tmp_path / "runs").glob("*/checkpoint-*.pt"))


def test_freeze_d_needs_a_discriminator_with_blocks(tiny):
    with pytest.raises(ConfigError, match="--freeze-d: the dcgan discriminator has no blocks"):
        train(overrides={**tiny, "train.freeze_d": 1}, progress=False, tensorboard=False)


def test_cli_refuses_a_contradiction_in_one_line(tmp_path, three_classes):
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--init",
            str(CONDITIONAL),
            "--data",
            str(three_classes),
            "--cond",
            "--w-dim",
            "8",
            "--out",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: --w-dim 8 contradicts --init {CONDITIONAL}: the pretrained "
        f"stylegan2-ada resnet network has 16, and fine-tuning keeps its "
        f"architecture; leave --w-dim out"
    ]


def test_style_based_flags_apply_to_the_pretrained_network(tmp_path, three_classes):
    """--pl-weight is checked against the pretrained network's family, not the default --model."""
    import json

    result = train(
        overrides=_overrides(tmp_path, three_classes, **{"loss.pl_weight": 2.0, "model.style_mixing": 0.9}),
        dry_run=True,
        progress=False,
        tensorboard=False,
    )
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["model"]["name"] == "stylegan2-ada" and saved["loss"]["pl_weight"] == 2.0
    assert saved["train"]["init"] == str(CONDITIONAL) and saved["data"]["resolution"] == 8
