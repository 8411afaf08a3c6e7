"""The human judgement log and its fool rate (Wilson interval), and `ganforge eval --human RUN_DIR`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ganforge.cli import main
from ganforge.errors import DataError
from ganforge.studio.human_eval import append_judgement, fool_rate, read_judgements, wilson_interval


def test_wilson_interval_known_values():
    # Wilson (1927); values as in e.g. statsmodels' proportion_confint(method="wilson")
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    assert wilson_interval(10, 10) == pytest.approx((0.722467, 1.0), abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(300, 1000)
    assert low < 0.3 < high and high - low < 0.06


def test_log_appends_lines_and_rates(tmp_path):
    for fooled in (True, False, False, True, True):
        append_judgement(tmp_path, {"fooled": fooled, "model": "m"})
    records = read_judgements(tmp_path)
    assert [r["fooled"] for r in records] == [True, False, False, True, True]
    rate = fool_rate(records)
    assert (rate.fooled, rate.total, rate.rate) == (3, 5, 0.6) and rate.low < 0.6 < rate.high
    assert "fool rate 60.0% (3/5" in str(rate)


def test_bad_logs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_judgements(tmp_path)
    (tmp_path / "human_eval.jsonl").write_text('{"fooled": true}\nnot json\n')
    with pytest.raises(DataError, match=r"human_eval.jsonl:2: not JSON"):
        read_judgements(tmp_path)
    (tmp_path / "human_eval.jsonl").write_text('{"fooled": "yes"}\n')
    with pytest.raises(DataError, match="true/false 'fooled'"):
        read_judgements(tmp_path)


def test_eval_human_cli(tmp_path):
    runner = CliRunner()
    for fooled in (True, False, False, False):
        append_judgement(tmp_path, {"fooled": fooled})
    result = runner.invoke(main, ["eval", "--human", str(tmp_path), "--json", str(tmp_path / "h.json")])
    assert result.exit_code == 0, result.output
    assert "fool rate 25.0% (1/4 judgements; 95% Wilson interval" in result.output
    assert json.loads((tmp_path / "h.json").read_text())["fooled"] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["eval", "--human", str(empty)])
    assert result.exit_code == 1 and "error:" in result.output and "human_eval.jsonl" in result.output
    result = runner.invoke(main, ["eval", "--real", "digits"])
    assert result.exit_code == 2 and "--fake" in result.output
