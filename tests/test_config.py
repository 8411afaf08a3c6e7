import dataclasses
import json
import re

import pytest

from ganforge.config import FLAGS, PRESETS, Config, flag, from_dict, resolve, settings
from ganforge.errors import ConfigError
from ganforge.registry import Registry
from ganforge.training.setup import check_registered


def test_defaults_round_trip_through_json():
    config = resolve({"train.total_kimg": 5, "optim.betas": (0.0, 0.99)})
    again = from_dict(json.loads(config.to_json()))
    assert again == config
    assert again.optim.betas == (0.0, 0.99)


@pytest.mark.parametrize(
    "key, value, flag",
    [
        ("data.resolution", 48, "--resolution"),
        ("train.batch", 1, "--batch"),
        ("optim.lr", -1.0, "--lr"),
        ("train.device", "tpu", "--device"),
        ("data.channels", 2, "--channels"),
        ("train.seed", -1, "--seed"),
        ("train.batch", "64", "--batch"),
        ("model.progressive", "yes", "--progressive"),
        ("optim.betas", [0.5], "--betas"),
    ],
)
def test_invalid_values_name_the_flag(key, value, flag):
    with pytest.raises(ConfigError, match=flag):
        resolve({key: value})


@pytest.mark.parametrize(
    "key, value, flag",
    [
        ("model.name", "nope", "--model"),
        ("loss.name", "nope", "--loss"),
        ("augment.policy", "color,blur", "--augment"),
        ("train.metrics", "fid,nope", "--metrics"),
        ("train.metrics_extractor", "nope", "--metrics-extractor"),
    ],
)
def test_registered_names_are_checked_at_run_setup(key, value, flag):
    """config.py is plain data: names that registries own are checked where a run is set up."""
    config = resolve({key: value})
    with pytest.raises(ConfigError, match=flag):
        check_registered(config)


def test_every_setting_is_reachable_from_the_cli_and_a_config_file(tmp_path):
    """One declaration per setting: each field has a flag that `ganforge train` accepts, and a config file key."""
    from ganforge.cli.train import train as train_command

    options = {opt for param in train_command.params for opt in param.opts}
    for key, item in settings():
        assert item.metadata["flag"] in options, key
        assert item.metadata["help"], key
    changed = {
        "data.workers": 1,
        "model.max_channels": 256,
        "optim.betas": [0.0, 0.99],
        "train.ema_rampup": 0.1,
        "train.channels_last": False,
        "loss.gp_weight": 5.0,
    }
    path = tmp_path / "c.json"
    nested: dict = {}
    for key, value in changed.items():
        section, name = key.split(".")
        nested.setdefault(section, {})[name] = value
    path.write_text(json.dumps(nested))
    config = resolve(config_file=path)
    assert config.optim.betas == (0.0, 0.99) and config.train.channels_last is False and config.data.workers == 1
    assert len(FLAGS) == len(set(FLAGS.values())) == len(list(settings()))  # one flag per setting, no clashes


def test_cli_flags_reach_the_config(tmp_path):
    from click.testing import CliRunner

    from ganforge.cli import main

    result = CliRunner().invoke(
        main,
        [
            "train",
            "--dry-run",
            "--out",
            str(tmp_path),
            "--betas",
            "0",
            "0.99",
            "--max-channels",
            "128",
            "--no-mirror",
            "--ema-rampup",
            "0.2",
            "--kimg",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(next(tmp_path.glob("*/config.json")).read_text())
    assert saved["optim"]["betas"] == [0.0, 0.99] and saved["model"]["max_channels"] == 128
    assert saved["data"]["mirror"] is False and saved["train"]["ema_rampup"] == 0.2


def test_presets_are_a_table_with_named_columns():
    preset = PRESETS["stylegan2-64"]
    assert preset.resolution == 64 and preset.style_mixing == 0.9
    config = resolve(preset="stylegan2-64")
    assert (config.model.name, config.data.resolution, config.loss.r1_gamma) == ("stylegan2", 64, 0.05)
    assert config.model.g_channels == config.model.d_channels == preset.width


def test_wgan_gp_refuses_batch_norm_in_d():
    with pytest.raises(ConfigError, match="--d-norm"):
        resolve({"loss.name": "wgan-gp", "model.d_norm": "batch"})


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"batch": 32, "seed": 7}}))
    config = resolve({"train.seed": 9}, path)
    assert (config.train.batch, config.train.seed) == (32, 9)


def test_unknown_keys_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict({"train": {"batchsize": 3}})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        resolve(config_file=bad)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().train.batch = 3  # type: ignore[misc]


def test_registry_rejects_duplicates_and_names_choices():
    registry = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(2)
    with pytest.raises(ConfigError, match="choose one of: a"):
        registry.get("b")


def test_the_settings_a_family_accepts_come_from_its_declaration():
    """Issue 25: config.validate() reads families.FAMILIES rather than model names written into its checks."""
    from ganforge.families import FAMILIES

    for name, family in FAMILIES.items():
        for key, value in (("loss.pl_weight", 2.0), ("model.style_mixing", 0.9)):
            if family.style_based and not family.refuses:
                resolve({"model.name": name, key: value})
            else:
                with pytest.raises(ConfigError, match=re.escape(flag(key))):
                    resolve({"model.name": name, key: value})
    refused = {
        "augment.policy": "diffaug",
        "loss.r1_gamma": 1.0,
        "loss.r2_gamma": 1.0,
        "data.cond": True,
        "model.pack": 2,
        "model.progressive": True,
        "loss.name": "hinge",
    }
    assert set(FAMILIES["cyclegan"].refuses) | {"loss.name"} == set(refused)
    for key, value in refused.items():
        with pytest.raises(ConfigError, match=f"^{re.escape(flag(key))}: not available for --model cyclegan"):
            resolve({"model.name": "cyclegan", key: value})
    resolve({"model.name": "cyclegan", "loss.name": "lsgan"})
