"""The table of limits: ranges named in one line, and JSON bounded in size and depth before it is used."""

import pytest

from ganforge import limits
from ganforge.config import resolve
from ganforge.errors import CheckpointError, ConfigError


def test_check_names_the_flag_and_the_range():
    limits.check(100_000, limits.DIRECTION_SAMPLES, "--samples")
    for bad in (1, 100_001, float("nan")):
        with pytest.raises(ConfigError, match=r"^--samples: must be in 2\.\.100000, got "):
            limits.check(bad, limits.DIRECTION_SAMPLES, "--samples")


def test_load_json_bounds_depth_and_size(monkeypatch):
    assert limits.load_json('{"a": [[1]], "b": "[[[[[[["}', "x.json", CheckpointError) == {"a": [[1]], "b": "[[[[[[["}
    deepest = "[" * limits.JSON_DEPTH + "]" * limits.JSON_DEPTH
    assert limits.load_json(deepest, "x.json", CheckpointError) is not None
    for text in ("[" + deepest + "]", "[" * 200_000 + "]" * 200_000):  # one level too deep; past the recursion limit
        with pytest.raises(CheckpointError, match="x.json: JSON nested more than 32 levels deep"):
            limits.load_json(text, "x.json", CheckpointError)
    monkeypatch.setattr(limits, "JSON_BYTES", 10)
    with pytest.raises(CheckpointError, match="x.json: 12 bytes of JSON, more than"):
        limits.load_json('{"a": "bcd"}', "x.json", CheckpointError)


@pytest.mark.parametrize(
    "flag, key, value",
    [
        ("--z-dim", "model.z_dim", 10**6),
        ("--g-channels", "model.g_channels", 0),
        ("--resolution", "data.resolution", 8192),
        ("--kimg", "train.total_kimg", float("inf")),
        ("--metrics-num", "train.metrics_num", 10**7),
    ],
)
def test_train_settings_are_bounded(flag, key, value):
    with pytest.raises(ConfigError, match=f"^{flag}: must be"):
        resolve({key: value})
