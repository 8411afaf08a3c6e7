"""Option parsing shared by commands: seed lists, class choices, truncation and device help."""
from __future__ import annotations

import click


def parse_classes(text: str | None):
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a class index or a comma list of indices", param_hint="--class")
    return values[0] if len(values) == 1 else values


def seed_list(ctx, param, text: str | None) -> list[int] | None:
    """'1,2,3' or ranges like '0-4' (inclusive) -> [1, 2, 3]; a bad list is reported under the option's name."""
    if text is None:
        return None
    seeds = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise click.BadParameter(f"{text!r}: give seeds (integers >= 0) as a comma list like 1,2,3 or a range "
                                     f"like 0-4")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


TRUNCATION_HELP = ("Truncation psi: 1 samples plainly, lower trades variety for typicality (StyleGAN: w toward its "
                   "average; DCGAN: z scaled by psi), 0 gives one image for all seeds.")
CLASS_HELP = "Class index for conditional models (default 0)."
BACKEND_CHOICES = ["torch", "onnxruntime"]
BACKEND_HELP = ("Run the generator in PyTorch or in onnxruntime (CPU; the ganforge[onnx] extra; a checkpoint is "
                "converted in memory). Default: onnxruntime for .onnx files, else torch.")
