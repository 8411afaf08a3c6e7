"""Train the shipped shapes classifier (label fidelity of conditional models on `--data shapes`) and write its
safetensors weights.

The network is the digits classifier's (ganforge.metrics.digits_classifier.DigitsClassifier, grey 32x32 input) with
five logits. Its data are freshly drawn procedural shapes (ganforge.data.builtin.shapes) with other seeds than the
built-in dataset (seed 0): a training draw and a held-out test draw, so the generator gives exact labels without
sharing images with what a GAN trains on. Training uses the digits script's augmentation (blur, resampling,
noise, contrast, checkerboard and ghost artefacts of generated images). Deterministic for a given seed and thread
count; a few minutes on one core. The JSON record (test accuracy, sizes, seeds, date, script) is stored in the
safetensors metadata.

    .venv/bin/python scripts/train_shapes_classifier.py [--train-size 12000] [--epochs 6] [--threads 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
from train_digits_classifier import (  # the sibling script (scripts/ is on sys.path when run)
    accuracy,
    augment,
    fit,
    write_weights,
)

from ganforge.data.builtin import SHAPE_NAMES, shapes
from ganforge.metrics.digits_classifier import RESOLUTION, DigitsClassifier, to_classifier_input
from ganforge.metrics.label_fidelity import SHAPES_TEST_SEED, SHAPES_TRAIN_SEED, SHAPES_WEIGHTS_PATH


def draw(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` procedural shapes of draw `seed`: (float [N, 1, 32, 32] in [-1, 1], labels [N])."""
    dataset = shapes(RESOLUTION, size=size, seed=seed)
    images, labels = dataset.batch(torch.arange(size))
    return to_classifier_input(images), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=SHAPES_WEIGHTS_PATH)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    x_train, y_train = draw(args.train_size, SHAPES_TRAIN_SEED)
    x_test, y_test = draw(args.test_size, SHAPES_TEST_SEED)

    model = DigitsClassifier(num_classes=len(SHAPE_NAMES))
    fit(model, x_train, y_train, x_test, y_test, args.epochs, generator, report_every=1)

    test_accuracy = accuracy(model, x_test, y_test)
    corrupted_accuracy = accuracy(model, augment(x_test, generator), y_test)
    seconds = time.perf_counter() - started
    record = {
        "test_accuracy": round(test_accuracy, 4),
        "corrupted_test_accuracy": round(corrupted_accuracy, 4),
        "classes": list(SHAPE_NAMES),
        "train_size": args.train_size,
        "test_size": args.test_size,
        "train_seed": SHAPES_TRAIN_SEED,
        "test_seed": SHAPES_TEST_SEED,
        "seed": args.seed,
        "epochs": args.epochs,
        "date": datetime.date.today().isoformat(),
        "script": "scripts/train_shapes_classifier.py",
        "torch": torch.__version__,
        "threads": args.threads,
        "seconds": round(seconds, 1),
    }
    write_weights(model, record, args.out)
    print(
        f"test accuracy {test_accuracy:.4f}, with generated-image artefacts {corrupted_accuracy:.4f} "
        f"({seconds:.1f} s); wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)"
    )


if __name__ == "__main__":
    main()
