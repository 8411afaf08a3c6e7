"""Attribute directions in a generator's latent space (w for StyleGAN2, z for DCGAN), three ways:

sefa        closed form, "Closed-Form Factorization of Latent Semantics in GANs" (Shen & Zhou 2021): the
            directions n that the first weights after the latent stretch most, i.e. the top eigenvectors of A^T A,
            A the stacked weights that read the latent with each output's weight vector scaled to unit length.
            StyleGAN2: the affines w -> styles of the synthesis convolutions (optionally a ws range, `layers`);
            DCGAN: the first transposed convolution z -> 4x4 features.
ganspace    "GANSpace: Discovering Interpretable GAN Controls" (Haerkoenen et al. 2020): incremental PCA of
            sampled w (StyleGAN2). For DCGAN, whose z is isotropic (its PCA is meaningless), PCA of the first
            layer's activations, each component carried back to z by linear regression of z on the PCA
            coordinates, as the paper does for BigGAN.
supervised  "InterFaceGAN" (Shen et al. 2020): a linear SVM boundary between latents with and without an
            attribute; its unit normal is the direction. Labels come from a classifier run on generated samples
            (a registered extractor with logits, "NAME:CLASS", or any callable; only the confident extremes are
            kept), a labels.json for seeds, or two folders of photos that are projected first. Reports held-out
            accuracy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import limits
from ..artifacts.generator import LoadedGenerator
from ..data.folder import ImageSource
from ..errors import ConfigError, DataError
from ..imaging import to_uint8
from .spaces import as_generator, default_space, identity, latent_shape, read_npz, write_npz

METHODS = ("sefa", "ganspace", "supervised")
GANSPACE_SAMPLES, GANSPACE_BATCH = 10000, 1000
SUPERVISED_SAMPLES, SUPERVISED_KEEP, TEST_FRACTION = 2000, 0.1, 0.25
FOLDER_STEPS = 200  # projection steps per photo for folder labels
MIN_PER_SIDE = 4  # labelled latents needed on each side of a boundary


@dataclass
class Directions:
    """K unit directions in one latent space, how they were found, and their scores."""

    vectors: torch.Tensor  # [K, D] unit vectors in `space` (D = z_dim for "z", w_dim for "w")
    space: str  # "z" | "w"
    method: str  # "sefa" | "ganspace" | "supervised"
    names: list[str]  # one per vector, e.g. "sefa0", "pc3", "digits-3"
    scores: dict  # eigenvalues / explained variance / held-out accuracy
    model: dict = field(default_factory=dict)  # identity of the model they belong to (spaces.identity)

    def pick(self, name_or_index: str | int) -> tuple[torch.Tensor, str]:
        """(vector [D], name) by name or index; an unknown one is an error naming --direction."""
        key = str(name_or_index)
        if key in self.names:
            index = self.names.index(key)
        elif key.lstrip("-").isdigit() and -len(self.names) <= int(key) < len(self.names):
            index = int(key) % len(self.names)
        else:
            raise ConfigError(
                f"--direction ...:{key}: no such direction; these are {', '.join(self.names)} "
                f"(or an index 0..{len(self.names) - 1})"
            )
        return self.vectors[index], self.names[index]


def _check_num(num: int, dim: int) -> None:
    if not 1 <= num <= dim:
        raise ConfigError(f"--num {num}: give 1..{dim} (the latent has {dim} dimensions)")


def _fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors and principal axes have no sign: make each one's largest entry positive, so results repeat."""
    largest = vectors.gather(1, vectors.abs().argmax(1, keepdim=True))  # [K, 1]
    return vectors * torch.where(largest < 0, -1.0, 1.0)


def sefa_weights(generator: LoadedGenerator, layers: Sequence[int] | None = None) -> torch.Tensor:
    """A [outputs, D]: the weights that read the latent, as the layers apply them (equalised-lr scale included)."""
    module = generator.module
    if generator.has_styles:
        affines = module.style_weights()  # per synthesis conv (= its ws index): [C_in, w_dim]
        chosen = range(len(affines)) if layers is None else list(layers)
        bad = [index for index in chosen if not 0 <= index < len(affines)]
        if bad or not chosen:
            raise ConfigError(
                f"--layers: sefa reads the style affines of synthesis layers 0..{len(affines) - 1} "
                f"(ws 0..{len(affines) - 1}), got {list(chosen)}"
            )
        return torch.cat([affines[index] for index in chosen])  # [sum C_in, w_dim]
    if layers is not None:
        raise ConfigError(f"--layers: {generator.model.name} has no per-layer latents; leave --layers out")
    stem = getattr(module, "stem", None)
    if not isinstance(stem, torch.nn.ConvTranspose2d):
        raise ConfigError(f"--method sefa: no first latent-reading layer known for {generator.model.name}")
    latent = stem.weight[: module.z_dim]  # [z_dim, C, 4, 4]; a conditional stem also reads the one-hot label
    return latent.reshape(module.z_dim, -1).t()  # [C * 4 * 4, z_dim]


def sefa(generator: LoadedGenerator, num: int, layers: Sequence[int] | None = None) -> Directions:
    weights = sefa_weights(generator, layers).detach().double()
    weights = weights / weights.norm(dim=1, keepdim=True).clamp_min(1e-12)  # each output's weight vector unit
    _check_num(num, weights.shape[1])
    eigenvalues, eigenvectors = torch.linalg.eigh(weights.t() @ weights)  # ascending
    order = eigenvalues.argsort(descending=True)[:num]
    vectors = _fix_signs(eigenvectors[:, order].t().float())  # [K, D]
    values = eigenvalues[order]
    return Directions(
        vectors,
        default_space(generator),
        "sefa",
        [f"sefa{k}" for k in range(num)],
        {
            "eigenvalues": values.tolist(),
            "eigenvalue_share": (values / eigenvalues.sum()).tolist(),
            "layers": None if layers is None else list(layers),
        },
    )


def _dcgan_activations(generator: LoadedGenerator, z: torch.Tensor) -> torch.Tensor:
    """DCGAN's first layer output (transposed conv, norm, ReLU) for z [N, z_dim] -> [N, C * 16]."""
    module = generator.module
    if not hasattr(module, "stem"):
        raise ConfigError(f"--method ganspace: no first layer known for {generator.model.name}")
    with torch.no_grad():
        x = module.act(module.norms[0](module.stem(z.to(generator.device)[:, :, None, None])))
    return x.flatten(1).cpu()


def ganspace(
    generator: LoadedGenerator,
    num: int,
    samples: int = GANSPACE_SAMPLES,
    batch_size: int = GANSPACE_BATCH,
    seed: int = 0,
) -> Directions:
    from sklearn.decomposition import IncrementalPCA

    limits.check(samples, limits.DIRECTION_SAMPLES, "--samples")
    limits.check(seed, limits.SEED, "--seed")
    space = default_space(generator)
    batch_size = max(batch_size, num)
    if samples < 2 * num:
        raise ConfigError(f"--samples {samples}: PCA of {num} components needs at least {2 * num} samples")
    seeds = torch.Generator().manual_seed(seed)
    z_batches = [
        torch.randn(min(batch_size, samples - start), generator.z_dim, generator=seeds)
        for start in range(0, samples, batch_size)
    ]
    if generator.has_styles:
        features = lambda z: generator.styles(z, batch_size=batch_size)[:, 0].detach()  # noqa: E731  [B, w_dim]
    else:
        features = lambda z: _dcgan_activations(generator, z)  # noqa: E731  [B, C * 16]
    dim = features(z_batches[0][:1]).shape[1]
    _check_num(num, dim if generator.has_styles else min(dim, generator.z_dim))
    pca = IncrementalPCA(n_components=num)
    for z in z_batches:
        if len(z) >= num:  # partial_fit needs a batch of at least n_components rows
            pca.partial_fit(features(z).double().numpy())
    scores = {
        "explained_variance": pca.explained_variance_.tolist(),
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "samples": samples,
    }
    if generator.has_styles:
        vectors = torch.from_numpy(pca.components_).float()
    else:  # carry each component back to z: least squares z ~ coordinates @ V, V [K, z_dim]
        gram, cross = np.zeros((num, num)), np.zeros((num, generator.z_dim))
        for z in z_batches:
            coordinates = pca.transform(features(z).double().numpy())  # [B, K]
            gram += coordinates.T @ coordinates
            cross += coordinates.T @ z.double().numpy()
        vectors = torch.nn.functional.normalize(torch.from_numpy(np.linalg.solve(gram, cross)).float(), dim=1)
        scores["note"] = "PCA of the first layer's activations, regressed back to z"
    return Directions(_fix_signs(vectors), space, "ganspace", [f"pc{k}" for k in range(num)], scores)


Classifier = Callable[[torch.Tensor], torch.Tensor]  # uint8 images [N, C, H, W] -> scores [N], high = attribute


def extractor_classifier(spec: str, device: torch.device) -> tuple[Classifier, str]:
    """'NAME:CLASS' (a registered extractor with logits, e.g. digits:3) -> (log-probability of CLASS, a name)."""
    from ..metrics.extractors import EXTRACTORS, build_extractor

    name, _, wanted = spec.partition(":")
    if not wanted.isdigit():
        raise ConfigError(
            f"--classifier {spec}: give NAME:CLASS, e.g. digits:3 (extractors: {', '.join(EXTRACTORS.names())})"
        )
    extractor = build_extractor(name, device)
    index = int(wanted)

    def classify(images: torch.Tensor) -> torch.Tensor:
        _, logits = extractor(images.to(device))
        if logits is None:
            raise ConfigError(f"--classifier {spec}: the {name} extractor gives no class logits")
        if index >= logits.shape[1]:
            raise ConfigError(f"--classifier {spec}: {name} knows classes 0..{logits.shape[1] - 1}")
        return logits.log_softmax(1)[:, index].cpu()

    return classify, f"{name}-{index}"


DIGIT_CLASSIFIERS = ("digits", "digits-per-channel")  # extractors trained on digits; the others see any images


def warn_if_foreign(spec: str, generator: LoadedGenerator) -> None:
    """Warn when --classifier NAME:CLASS is a digits classifier and the model was not trained on digit data (the
    classifier's reading of, say, faces is a guess, and the direction found from it means little)."""
    from ..metrics.evaluate import default_extractor

    name = spec.partition(":")[0]
    if name in DIGIT_CLASSIFIERS and default_extractor(generator.dataset.name) not in DIGIT_CLASSIFIERS:
        warnings.warn(
            f"--classifier {spec}: the {name} classifier was trained on digits, but this model was trained "
            f"on {generator.dataset.name!r}; its labels of these images are guesses, so the direction may "
            f"mean nothing (use --labels or --positive/--negative folders for this data)"
        )


def _seed_vectors(generator: LoadedGenerator, seeds: Sequence[int]) -> torch.Tensor:
    """The latents of seeds in the directions' space: w [N, w_dim] for StyleGAN2, z [N, z_dim] for DCGAN."""
    z = generator.latents(seeds)
    with torch.no_grad():
        return generator.styles(z)[:, 0] if generator.has_styles else z


def classifier_labels(
    generator: LoadedGenerator, classifier: Classifier, samples: int, keep: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score `samples` generated images (seeds seed..), keep the top and bottom `keep` fraction as (latents [M, D],
    labels [M] 1/0)."""
    if not 0 < keep <= 0.5:
        raise ConfigError(f"--keep {keep}: give the fraction of samples kept at each extreme, in (0, 0.5]")
    limits.check(samples, limits.DIRECTION_SAMPLES, "--samples")
    limits.check(seed, limits.SEED, "--seed")
    seeds = range(seed, seed + samples)
    scores = []
    for start in range(0, samples, 256):
        with torch.no_grad():
            images = to_uint8(generator.synthesize(generator.latents(seeds[start : start + 256])))
        scores.append(torch.as_tensor(classifier(images)).float().reshape(-1))
    order = torch.cat(scores).argsort()  # ascending
    count = max(1, int(samples * keep))
    chosen = torch.cat([order[-count:], order[:count]])
    labels = torch.cat([torch.ones(count), torch.zeros(count)])
    return _seed_vectors(generator, [seeds[int(i)] for i in chosen]), labels


def seed_labels(generator: LoadedGenerator, labels: str | Path | dict) -> tuple[torch.Tensor, torch.Tensor]:
    """labels.json {"SEED": 0|1, ...} or {"positive": [seeds], "negative": [seeds]} -> (latents, labels)."""
    where = "labels"
    if not isinstance(labels, dict):
        where = str(labels)
        try:
            text = Path(labels).expanduser().read_bytes()
        except OSError as error:
            raise DataError(f"--labels {where}: cannot read it ({error.strerror})") from None
        labels = limits.load_json(text, f"--labels {where}", DataError)
    try:
        if isinstance(labels, dict) and set(labels) == {"positive", "negative"}:
            if not all(isinstance(labels[side], list) for side in labels):
                raise ValueError("positive and negative must be lists of seeds")
            pairs = [(_labelled_seed(s), 1) for s in labels["positive"]] + [
                (_labelled_seed(s), 0) for s in labels["negative"]
            ]
        elif isinstance(labels, dict):
            pairs = [(_labelled_seed(seed), _label(value)) for seed, value in labels.items()]
        else:
            raise ValueError("not an object")
    except (ValueError, TypeError) as error:
        raise DataError(
            f'--labels {where}: give {{"SEED": 0 or 1, ...}} or {{"positive": [seeds], "negative": [seeds]}} ({error})'
        ) from None
    targets = torch.tensor([float(v) for _, v in pairs])
    _check_sides(targets)  # before any latent is computed
    limits.check(len(pairs), limits.DIRECTION_SAMPLES, f"--labels {where}: labelled seeds", DataError)
    return _seed_vectors(generator, [s for s, _ in pairs]), targets


def _labelled_seed(value) -> int:
    """A seed of a labels file: an integer (or its digits, as an object key) in the seed range."""
    seed = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(seed, bool) or not isinstance(seed, int) or limits.out_of_range(seed, limits.SEED):
        raise ValueError(f"seed {value!r} is not an integer in {limits.SEED.low}..{limits.SEED.high}")
    return seed


def _label(value) -> int:
    """A label of a labels file: 0 or 1 (false or true)."""
    if isinstance(value, (bool, int)) and value in (0, 1):
        return int(value)
    raise ValueError(f"label {value!r} is not 0 or 1")


def folder_labels(
    generator: LoadedGenerator, positive: str | Path, negative: str | Path, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project every image of two folders (with / without the attribute) -> (latents, labels)."""
    from .project import project_many

    latents, labels = [], []
    for flag, folder, label in (("--positive", positive, 1.0), ("--negative", negative, 0.0)):
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise DataError(f"{flag} {folder}: no such folder")
        names = ImageSource(folder).names
        if not names:
            raise DataError(f"{flag} {folder}: no images in it")
        projections = project_many(generator, [folder / name for name in names], default_space(generator), steps)
        latents += [p.latent[0] for p in projections]
        labels += [label] * len(projections)
    return torch.stack(latents), torch.tensor(labels)


def _check_sides(labels: torch.Tensor) -> list[int]:
    """[positives, negatives] among labels [M] of 1/0; DataError when either side has fewer than MIN_PER_SIDE."""
    counts = [int((labels == value).sum()) for value in (1, 0)]
    if min(counts) < MIN_PER_SIDE:
        raise DataError(
            f"supervised directions need at least {MIN_PER_SIDE} latents with and {MIN_PER_SIDE} "
            f"without the attribute, got {counts[0]} and {counts[1]}"
        )
    return counts


def fit_boundary(
    latents: torch.Tensor, labels: torch.Tensor, test_fraction: float = TEST_FRACTION, seed: int = 0
) -> tuple[torch.Tensor, dict]:
    """Linear SVM on a random (1 - test_fraction) of the labelled latents [M, D] -> (unit normal [D] pointing to
    label 1, {"accuracy": on the held-out rest, "train_accuracy", counts})."""
    from sklearn.svm import LinearSVC

    counts = _check_sides(labels)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for value in (1, 0):  # stratified: the same share of each side is held out
        members = rng.permutation(np.flatnonzero(labels.numpy() == value))
        test[members[: max(1, round(len(members) * test_fraction))]] = True
    x, y = latents.double().numpy(), labels.numpy().astype(int)
    svm = LinearSVC(C=1.0, max_iter=20000).fit(x[~test], y[~test])
    normal = torch.from_numpy(svm.coef_[0]).float()
    return normal / normal.norm().clamp_min(1e-12), {
        "accuracy": float(svm.score(x[test], y[test])),
        "train_accuracy": float(svm.score(x[~test], y[~test])),
        "positives": counts[0],
        "negatives": counts[1],
        "held_out": int(test.sum()),
    }


def supervised(
    generator: LoadedGenerator,
    classifier: str | Classifier | None = None,
    labels=None,
    positive: str | Path | None = None,
    negative: str | Path | None = None,
    samples: int = SUPERVISED_SAMPLES,
    keep: float = SUPERVISED_KEEP,
    steps: int = FOLDER_STEPS,
    name: str | None = None,
    seed: int = 0,
) -> Directions:
    """One InterFaceGAN boundary from exactly one label source (see the module docstring)."""
    given = [source for source in (classifier, labels, positive or negative) if source is not None]
    if len(given) != 1:
        raise ConfigError(
            "--method supervised: give exactly one label source: --classifier NAME:CLASS, "
            "--labels labels.json, or --positive DIR with --negative DIR"
        )
    if classifier is not None:
        if isinstance(classifier, str):
            spec = classifier
            classifier, derived = extractor_classifier(spec, generator.device)
            warn_if_foreign(spec, generator)
        else:
            derived = getattr(classifier, "__name__", "attribute")
        latents, targets = classifier_labels(generator, classifier, samples, keep, seed)
        source = {"classifier": derived, "samples": samples, "keep": keep}
    elif labels is not None:
        latents, targets = seed_labels(generator, labels)
        derived, source = "labels", {"labels": str(labels) if not isinstance(labels, dict) else "dict"}
    else:
        if positive is None or negative is None:
            raise ConfigError("--positive and --negative: give both folders")
        latents, targets = folder_labels(generator, positive, negative, steps)
        derived, source = Path(positive).name, {"positive": str(positive), "negative": str(negative), "steps": steps}
    normal, scores = fit_boundary(latents, targets, seed=seed)
    return Directions(normal[None], default_space(generator), "supervised", [name or derived], {**scores, **source})


def find_directions(
    generator: LoadedGenerator | str | Path, method: str = "sefa", num: int = 10, **method_options
) -> Directions:
    """K directions by `method` (sefa | ganspace | supervised; supervised finds one). Options: sefa `layers`;
    ganspace `samples`, `batch_size`, `seed`; supervised see `supervised`."""
    generator = as_generator(generator)
    if method not in METHODS:
        raise ConfigError(f"--method {method}: choose one of {', '.join(METHODS)}")
    try:
        if method == "sefa":
            found = sefa(generator, num, **method_options)
        elif method == "ganspace":
            found = ganspace(generator, num, **method_options)
        else:
            found = supervised(generator, **method_options)
    except TypeError as error:  # an option another method takes
        raise ConfigError(f"--method {method}: {error}") from None
    found.model = identity(generator)
    return found


def save_directions(path: str | Path, directions: Directions) -> Path:
    meta = {
        "kind": "directions",
        "space": directions.space,
        "method": directions.method,
        "names": directions.names,
        "scores": directions.scores,
        "model": directions.model,
    }
    return write_npz(path, {"vectors": directions.vectors.detach().cpu().float().numpy()}, meta)


def load_directions(path: str | Path, generator: LoadedGenerator, flag: str = "--direction") -> Directions:
    """Directions from a file `save_directions` wrote for this very model."""
    arrays, meta = read_npz(path, "directions", flag, generator)
    vectors = torch.from_numpy(arrays.get("vectors", np.zeros((0, 0)))).float()
    dim = latent_shape(generator, default_space(generator))[-1]
    if vectors.ndim != 2 or vectors.shape[1] != dim or len(vectors) != len(meta.get("names", [])):
        raise DataError(
            f"{flag} {path}: vectors of shape {tuple(vectors.shape)} do not fit this model's "
            f"{default_space(generator)} ({dim} dimensions)"
        )
    if not torch.isfinite(vectors).all() or (vectors.norm(dim=1) == 0).any():
        raise DataError(f"{flag} {path}: holds NaN, infinite or all-zero direction vectors")
    return Directions(
        vectors, meta["space"], meta.get("method", "?"), list(meta["names"]), meta.get("scores", {}), meta["model"]
    )
