"""What kind of model a family is, and which training settings it accepts, declared once.

`Task` is the kind of model (noise to image, paired or unpaired image to image): a model's `ModelSpec.task`
(models/__init__.py) and a dataset's `DatasetInfo.task` (data/base.py) carry it, and the training objective, the
data a run reads, the ONNX graph kind and the studio's pages follow from it. `FAMILIES` says, per registered model
name, which of the settings that only some families use it accepts; config.validate() reads it (so it stays plain
data, importable without torch), and tests/cli/test_cli.py checks that it names exactly the registered models.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Task(str, Enum):
    """The kind of model: what its generator reads and what data it trains on."""

    NOISE_TO_IMAGE = "noise-to-image"  # G(z[, class]) vs D(x[, class]); images (with labels)
    PAIRED = "image-to-image"  # G(A) -> B vs D(B | A); aligned (A, B) pairs (pix2pix)
    UNPAIRED = "unpaired"  # A <-> B from two independent image sets (CycleGAN)

    @property
    def translates(self) -> bool:
        """Its generator reads an image (translate, the studio's Sketch page) rather than noise."""
        return self is not Task.NOISE_TO_IMAGE


@dataclass(frozen=True)
class Family:
    """The settings a model family accepts beyond those every family shares."""

    style_based: bool = False  # a mapping network and W space: --style-mixing, --pl-weight
    progressive: bool = False  # progressive growing: --progressive
    packs: bool = True  # PacGAN: --pack (with unconditional data)
    losses: tuple[str, ...] | None = None  # the --loss values it takes besides the default (None: any)
    refuses: tuple[str, ...] = ()  # setting keys its training would ignore: a value other than the default is refused
    trains_with: str = ""  # what it trains with instead (for the refusal's message)


_CYCLEGAN = Family(
    packs=False,
    losses=("lsgan",),
    refuses=("augment.policy", "loss.r1_gamma", "loss.r2_gamma", "data.cond", "model.pack", "model.progressive"),
    trains_with="the least-squares loss, cycle and identity losses of its paper",
)

FAMILIES: dict[str, Family] = {  # model name -> its settings; the same names as the model registry
    "dcgan": Family(),
    "stylegan2": Family(style_based=True, progressive=True),
    "stylegan2-ada": Family(style_based=True),
    "stylegan3": Family(style_based=True),
    "r3gan": Family(),
    "pix2pix": Family(packs=False),
    "cyclegan": _CYCLEGAN,
}
