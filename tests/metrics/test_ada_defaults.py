"""ADA's default op set is NVlabs' 'bgc' (issue 15): no cutout unless asked, ada_kimg 500."""

import torch

from ganforge.augment import build_augment
from ganforge.augment.ada import ALL_OPS, BLIT, COLOUR, GEOMETRIC, AdaptiveAugment, AdaptivePipeline
from ganforge.config import Config


def test_default_pipeline_is_bgc_without_cutout():
    assert AdaptiveAugment().ops == BLIT + GEOMETRIC + COLOUR and "cutout" not in AdaptivePipeline().ops
    assert build_augment("ada").ops == BLIT + GEOMETRIC + COLOUR and Config().augment.ada_kimg == 500
    asked = AdaptivePipeline(ALL_OPS)
    assert "cutout" in asked.ops
    x = torch.ones(64, 1, 16, 16)
    torch.manual_seed(0)
    assert (AdaptivePipeline(("cutout",))(x, 1.0) == 0).any()  # cutout still works when asked for
