"""`ganforge eval` on a CycleGAN model (metrics/unpaired.py): per direction the target-domain share, label survival
and cycle PSNR, each beside its identity baseline; a model that copies its input keeps every label but reaches no
target domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.artifacts import LoadedGenerator
from ganforge.config import resolve
from ganforge.data.base import DatasetInfo
from ganforge.metrics.report import format_table
from ganforge.metrics.unpaired import UNPAIRED, evaluate_unpaired


class Copier(nn.Module):
    """A stand-in CycleGAN generator pair that returns its input in both directions."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return x


def copier(resolution: int = 16) -> LoadedGenerator:
    info = DatasetInfo("digits-stylized", resolution, 3, tuple(str(d) for d in range(10)), 3, unpaired=True)
    return LoadedGenerator(Copier(), resolve({"model.name": "cyclegan"}).model, info, 0, 0.0, {}, "copier")


@pytest.mark.slow  # trains the domain classifier's two views
def test_a_copying_model_keeps_labels_but_reaches_no_domain():
    results = ganforge.evaluate("digits-stylized", copier(), num=60)
    for direction in ("a2b", "b2a"):
        row = results[UNPAIRED][direction]
        assert row["images"] == 60
        assert row["label_survival"] == row["label_survival_identity"] >= 0.9  # the classifier's ceiling
        assert row["target_domain_share"] == row["target_domain_share_identity"] <= 0.05
        assert row["cycle_psnr"] == 100.0  # a copy of a copy is the input
    assert min(results["domain_held_out_accuracy"].values()) >= 0.9
    table = format_table(results)
    assert "A -> B (60 held-out images)" in table and "identity" in table and "label survival" in table


def test_unpaired_eval_refuses_other_data_and_models(tmp_path):
    with pytest.raises(ganforge.ConfigError, match="--real .*trainA/, trainB/, testA/ and testB/"):
        evaluate_unpaired(str(tmp_path), copier())
    with pytest.raises(ganforge.ConfigError, match="not an unpaired translation model"):
        evaluate_unpaired(
            "digits-stylized",
            LoadedGenerator(Copier(), resolve({}).model, DatasetInfo("digits", 16, 1), 0, 0.0, {}, "noise"),
        )
