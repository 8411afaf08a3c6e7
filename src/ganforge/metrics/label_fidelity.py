"""Label fidelity of a class-conditional generator: the share of images generated for class k that a fixed
classifier of the data's domain reads as k, overall and per class (the `label_acc` metric).

A generator that ignores its label scores chance (1 / classes); one that follows it scores near the classifier's own
accuracy on real images. The classifier is chosen by the generator's class names: the shipped digits classifier
(digits_classifier.py) for the classes 0-9, and the shipped shapes classifier for the built-in shapes' five
classes. The shapes classifier is the digits network with five logits, trained on freshly drawn procedural shapes
(other seeds than the built-in dataset) by scripts/train_shapes_classifier.py: the procedural generator gives
unlimited exact labels, but a rule that re-derives the shape from pixels would break on a GAN's blurred edges,
which a CNN trained with blur and noise reads reliably.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.builtin import DIGIT_NAMES, SHAPE_NAMES
from ..errors import ConfigError
from .digits_classifier import WEIGHTS_PATH, DigitsClassifier, load_classifier, read_metadata, to_classifier_input

LABEL_ACC, LABEL_ACC_PER_CLASS = "label_acc", "label_acc_per_class"  # result keys (metric `label_acc`, measures.py)
SHAPES_WEIGHTS_PATH = Path(__file__).parent / "weights" / "shapes_classifier.safetensors"
SHAPES_SCRIPT = "scripts/train_shapes_classifier.py"
SHAPES_TRAIN_SEED, SHAPES_TEST_SEED = 1, 2  # procedural draws of the classifier's data; the built-in set uses seed 0


@dataclass
class LabelClassifier:
    """A fixed classifier of one domain: its network, the names of its classes and a description for reports."""

    model: DigitsClassifier
    class_names: tuple[str, ...]
    description: str

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> LongTensor [N]: indices into `class_names`."""
        return self.model(to_classifier_input(images))[1].argmax(dim=1)


# class names of a domain -> (weights file, the script that writes them, domain word)
DOMAINS = {
    DIGIT_NAMES: (WEIGHTS_PATH, "scripts/train_digits_classifier.py", "digits"),
    SHAPE_NAMES: (SHAPES_WEIGHTS_PATH, SHAPES_SCRIPT, "shapes"),
}


def label_classifier(class_names: tuple[str, ...], device: torch.device | str = "cpu") -> LabelClassifier:
    """The shipped classifier whose classes include every one of `class_names`; ConfigError when none does."""
    for names, (path, script, domain) in DOMAINS.items():
        if class_names and set(class_names) <= set(names):
            accuracy = read_metadata(path).get("test_accuracy") if path.is_file() else None
            score = "unknown" if accuracy is None else f"{accuracy:.4f}"
            return LabelClassifier(
                load_classifier(path, script).to(device),
                names,
                f"{domain} classifier ({path.name}, held-out test accuracy {score})",
            )
    known = "; ".join(f"{domain}: {', '.join(names)}" for names, (_, _, domain) in DOMAINS.items())
    shown = ", ".join(class_names[:12]) or "none (an unconditional model)"
    raise ConfigError(f"no shipped classifier knows the classes {shown}; label fidelity is measured for {known}")


def label_fidelity(
    predicted: torch.Tensor, requested: torch.Tensor, class_names: tuple[str, ...], classifier_names: tuple[str, ...]
) -> dict:
    """predicted [N] (classifier indices), requested [N] (generator class indices named by `class_names`) ->
    {label_acc: mean of the per-class accuracies, label_acc_per_class: {class name: accuracy}} over the classes
    that were requested at least once."""
    assert predicted.shape == requested.shape and predicted.ndim == 1, (predicted.shape, requested.shape)
    as_classifier = torch.tensor([classifier_names.index(name) for name in class_names])
    correct = (predicted.cpu() == as_classifier[requested.cpu()]).float()
    per_class = {
        name: float(correct[requested.cpu() == k].mean())
        for k, name in enumerate(class_names)
        if bool((requested.cpu() == k).any())
    }
    return {LABEL_ACC: sum(per_class.values()) / len(per_class), LABEL_ACC_PER_CLASS: per_class}
