"""The `label_acc` metric (issue 27): label fidelity of conditional generators, overall and per class, read by the
shipped digits or shapes classifier; it reads real images with their true labels as faithful and the same images
with ignored labels as chance, and it is named as not computed where it cannot run."""

import pytest
import torch

from ganforge.data.base import DatasetInfo, TensorImageDataset
from ganforge.data.builtin import DIGIT_NAMES, SHAPE_NAMES, digit_images, shapes
from ganforge.errors import ConfigError
from ganforge.metrics.digits_classifier import digits_split
from ganforge.metrics.evaluate import Evaluator
from ganforge.metrics.label_fidelity import SHAPES_TEST_SEED, label_classifier, label_fidelity
from ganforge.metrics.measures import LABEL_ACC, LABEL_ACC_PER_CLASS, NOT_COMPUTED
from ganforge.metrics.report import format_table


@pytest.fixture(scope="module")
def held_out_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """200 digits the classifier was not trained on: uint8 [200, 1, 32, 32], labels [200]."""
    images, labels = digit_images(32)
    _, test = digits_split(labels)
    return torch.from_numpy(images[test][:200])[:, None], torch.from_numpy(labels[test][:200])


def _score(images, requested, classes, metrics=("label_acc",)):
    real = TensorImageDataset(images, requested, DatasetInfo("digits", 32, images.shape[1], classes))
    evaluator = Evaluator(real, metrics, "digits", num_real=len(images), classes=classes)
    return evaluator(iter(torch.split(images, 64)), labels=requested)


def test_faithful_images_score_high_and_ignored_labels_score_chance(held_out_digits):
    images, labels = held_out_digits
    faithful = _score(images, labels, DIGIT_NAMES)
    assert faithful[LABEL_ACC] > 0.9 and set(faithful[LABEL_ACC_PER_CLASS]) == set(DIGIT_NAMES)
    ignored = _score(images, torch.arange(len(images)) % 10, DIGIT_NAMES)  # the label said nothing about the image
    assert ignored[LABEL_ACC] < 0.25
    table = format_table(faithful)
    assert "label_acc" in table and "per class" in table and "chance = 0.10" in table


def test_per_class_figures_and_a_generator_with_a_subset_of_the_classes():
    predicted = torch.tensor([3, 3, 1, 7, 1, 1])  # digits-classifier indices
    requested = torch.tensor([0, 0, 1, 1, 1, 1])  # the generator's classes: "3", "1"
    result = label_fidelity(predicted, requested, ("3", "1"), DIGIT_NAMES)
    assert result[LABEL_ACC_PER_CLASS] == {"3": 1.0, "1": 0.75} and result[LABEL_ACC] == 0.875


def test_shapes_are_read_by_the_shapes_classifier():
    classifier = label_classifier(SHAPE_NAMES)
    assert classifier.class_names == SHAPE_NAMES and "shapes classifier" in classifier.description
    held_out = shapes(32, size=200, seed=SHAPES_TEST_SEED + 1)
    images, labels = held_out.batch(torch.arange(200))
    assert float((classifier.predict(images) == labels).float().mean()) > 0.9


def test_label_acc_is_not_computed_without_labels_or_a_classifier(held_out_digits):
    images, labels = held_out_digits
    real = TensorImageDataset(images, labels, DatasetInfo("digits", 32, 1, DIGIT_NAMES))
    results = Evaluator(real, ("label_acc", "fid"), "digits", num_real=200)(iter([images]))  # unconditional
    assert "class-conditional" in results[NOT_COMPUTED]["label_acc"] and "fid" in results
    with pytest.raises(ConfigError, match="no shipped classifier knows the classes cat, dog"):
        label_classifier(("cat", "dog"))


def test_run_setup_checks_label_acc_with_the_data_classes():
    from ganforge.metrics.evaluate import check_metrics

    assert check_metrics("label_acc", "digits", 1, classes=DIGIT_NAMES) == {}
    assert "class-conditional" in check_metrics("label_acc,fid", "digits", 1)["label_acc"]
