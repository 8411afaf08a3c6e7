import json

import pytest

from ganforge.config import Config, from_dict, resolve
from ganforge.errors import ConfigError
from ganforge.registry import Registry


def test_defaults_round_trip_through_json():
    config = resolve({"train.total_kimg": 5, "optim.betas": (0.0, 0.99)})
    again = from_dict(json.loads(config.to_json()))
    assert again == config
    assert again.optim.betas == (0.0, 0.99)


@pytest.mark.parametrize("key, value, flag", [
    ("data.resolution", 48, "--resolution"),
    ("train.batch", 1, "--batch"),
    ("optim.lr", -1.0, "--lr"),
    ("model.name", "nope", "--model"),
    ("loss.name", "nope", "--loss"),
    ("augment.policy", "color,blur", "--augment"),
    ("train.device", "tpu", "--device"),
    ("data.channels", 2, "--channels"),
])
def test_invalid_values_name_the_flag(key, value, flag):
    with pytest.raises(ConfigError, match=flag):
        resolve({key: value})


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
    with pytest.raises(Exception):
        Config().train.batch = 3  # type: ignore[misc]


def test_registry_rejects_duplicates_and_names_choices():
    registry = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(2)
    with pytest.raises(ConfigError, match="choose one of: a"):
        registry.get("b")
