"""A probe of bad flags, files, checkpoints, exports and folders at the command line: each is refused with one line
naming the problem (exit 2 for usage errors, 1 for the rest), no traceback, and nothing created or changed on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganforge.artifacts.exported import CONFIG_HASH
from ganforge.cli import main

from .exports import standard_exports

OLD_CHECKPOINT = Path(__file__).parents[1] / "data" / "dcgan16-v1.pt"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Exports (see exports.py), a photo, a folder of photos, and the bad files the cases below name."""
    root = tmp_path_factory.mktemp("inputs")
    standard_exports(root)
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "photos" / f"{index}.png")
    shutil.copy(root / "photos" / "0.png", root / "photo.png")
    (root / "notes.txt").write_text("hello, I am not a checkpoint\n")
    (root / "empty.pt").write_bytes(b"")
    (root / "noise.pt").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (root / "afile").write_text("a plain file\n")
    (root / "adir").mkdir()
    _corrupt_artifacts(root)
    for name, change in TAMPERED.items():
        shutil.copytree(root / "cond", root / f"tampered-{name}")
        hand_edit(root / f"tampered-{name}" / "config.json", change)
    return root


def hand_edit(path: Path, change) -> None:
    """Rewrite an export's config.json through `change(meta)` as a person editing it would: without its hash."""
    meta = {k: v for k, v in json.loads(path.read_text()).items() if k != CONFIG_HASH}
    path.write_text(json.dumps(change(meta)))


def flip_byte(path: Path, offset: int) -> None:
    """Invert one bit of a file in place, as a bad disk or a faulty copy would."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _corrupt_artifacts(root: Path) -> None:
    """flipped.pt: a checkpoint with one bit of a weight changed; flipped-export: an export with one bit of its
    weights changed; edited-export: an export whose config.json was changed after its hash was taken."""
    shutil.copy(OLD_CHECKPOINT, root / "flipped.pt")
    with zipfile.ZipFile(OLD_CHECKPOINT) as archive:
        weights = max(archive.infolist(), key=lambda info: info.file_size)
    flip_byte(root / "flipped.pt", weights.header_offset + 100 + weights.file_size // 2)
    shutil.copytree(root / "cond", root / "flipped-export")
    weights_file = root / "flipped-export" / "generator.safetensors"
    flip_byte(weights_file, weights_file.stat().st_size - 10)
    shutil.copytree(root / "cond", root / "edited-export")
    config = root / "edited-export" / "config.json"
    config.write_text(config.read_text().replace('"source": "random"', '"source": "rand0m"'))


def _drop(key):
    return lambda meta: {k: v for k, v in meta.items() if k != key}


def _set(section, key, value):
    return lambda meta: {**meta, section: {**meta[section], key: value}}


TAMPERED = {
    "no-model": _drop("model"),
    "no-dataset": _drop("dataset"),
    "list": lambda meta: [meta],
    "resolution-string": _set("dataset", "resolution", "16"),
    "resolution-odd": _set("dataset", "resolution", 17),
    "channels-2": _set("dataset", "channels", 2),
    "z-dim-string": _set("model", "z_dim", "100"),
    "unknown-model-key": _set("model", "sparkle", 1),
    "num-classes-float": lambda meta: {**meta, "num_classes": 5.0},
    "class-names-numbers": _set("dataset", "class_names", [1, 2, 3, 4, 5]),
}

# (arguments with {root} for the inputs folder, exit code, text the one error line must contain)
CASES = [
    # --class
    ("sample {root}/cond --grid g.png --class cow", 1, "'cow' is not a class of this model; classes: circle, square"),
    ("sample {root}/cond --grid g.png --num 3 --class 0,1,2,3", 1, "--class: 4 values for --num 3"),
    ("sample {root}/cond --grid g.png --class 9", 1, "9 is not a class index of this model (0..4"),
    ("sample {root}/cond --grid g.png --class -1", 1, "-1 is not a class index"),
    ("sample {root}/cond --grid g.png --class circle,,star", 2, "comma list"),
    ("sample {root}/plain --grid g.png --class 1", 1, "not class-conditional"),
    ("interpolate {root}/cond --seeds 1,2 --out w.gif --class circle,star", 2, "give one class"),
    ("mix {root}/styles --rows 1 --cols 2 --out m.png --class 0", 1, "not class-conditional"),
    # seeds, counts, truncation
    ("interpolate {root}/plain --seeds 0-99999999 --frames 4 --out w.gif", 2, "names 100000000 seeds; at most 10000"),
    ("interpolate {root}/plain --seeds 0,5000000000 --out w.gif", 2, "seeds go up to"),
    ("interpolate {root}/plain --seeds 4-1 --out w.gif", 2, "'4-1': give seeds"),
    ("interpolate {root}/plain --seeds 1,2 --frames 100000 --out w.gif", 2, "--frames"),
    ("interpolate {root}/plain --seeds 3 --out w.gif", 1, "at least two seeds"),
    ("mix {root}/styles --rows 0-9999 --cols 0-9999 --out m.png", 1, "GiB at once"),
    ("sample {root}/plain --grid g.png --num 100000", 2, "--num"),
    ("sample {root}/plain --grid g.png --seed -1", 2, "--seed"),
    ("sample {root}/plain --grid g.png --truncation -5", 1, "--truncation -5.0: must be in 0..2"),
    ("sample {root}/plain --grid g.png --truncation nan", 1, "--truncation nan"),
    ("interpolate {root}/styles --seeds 1,2 --out w.gif --truncation 2.5", 1, "--truncation 2.5"),
    # output paths of the wrong kind or in places that cannot be written
    ("sample {root}/plain", 2, "--grid"),
    ("sample {root}/plain --grid g.bmp", 1, "--grid g.bmp: end the name in .png, .jpg"),
    ("sample {root}/plain --grid {root}/adir", 2, "is a directory"),
    ("sample {root}/plain --grid {root}/afile/g.png", 2, "afile is a file"),
    ("sample {root}/plain --outdir {root}/afile", 2, "is a file"),
    ("mix {root}/styles --rows 1 --cols 2 --out m.txt", 1, "--out m.txt: end the name in"),
    ("interpolate {root}/plain --seeds 1,2 --out w.mp4", 1, "--out w.mp4"),
    ("export {root}/plain --out {root}/afile", 2, "is a file"),
    ("prepare {root}/photos --out {root}/adir", 2, "is an existing folder; give a file name"),
    ("prepare {root}/photos --out x.zip --channels 2", 2, "'2' is not one of '1', '3'"),
    ("pairs {root}/photos --task edges --out {root}/afile", 2, "is a file"),
    ("pairs {root}/photos --task edges --out {root}/afile/pairs", 2, "afile is a file"),
    ("translate {root}/p2p {root}/photo.png --out t.bmp", 1, "--out t.bmp: end the name in"),
    ("translate {root}/p2p {root}/photos --out {root}/afile", 1, "--out "),
    ("translate {root}/plain {root}/photo.png --out t.png", 1, "generates from noise"),
    # files that are not checkpoints, and tampered exports
    ("sample {root}/notes.txt --grid g.png", 1, "is not a checkpoint: checkpoints are zip archives"),
    ("info {root}/empty.pt", 1, "is not a checkpoint: the file is empty"),
    ("info {root}/noise.pt", 1, "is not a checkpoint"),
    *[
        (f"sample {{root}}/tampered-{name} --grid g.png", 1, text)
        for name, text in [
            ("no-model", "field 'model' is missing"),
            ("no-dataset", "field 'dataset' is missing"),
            ("list", "not a ganforge generator export"),
            ("resolution-string", "'dataset.resolution' must be of type int"),
            ("resolution-odd", "'dataset.resolution' must be a power of two"),
            ("channels-2", "'dataset.channels' must be 1 or 3"),
            ("z-dim-string", "'model.z_dim' must be of type int"),
            ("unknown-model-key", "unknown config key(s) ['sparkle']"),
            ("num-classes-float", "'num_classes' must be"),
            ("class-names-numbers", "'dataset.class_names' must be a list of names"),
        ]
    ],
    # corrupted files are refused, naming the file (issue 26)
    ("info {root}/flipped.pt", 1, "flipped.pt is corrupt: its part"),
    ("sample {root}/flipped.pt --grid g.png", 1, "fails its CRC check"),
    ("sample {root}/flipped-export --grid g.png", 1, "flipped-export/generator.safetensors is corrupt"),
    ("info {root}/edited-export", 1, "edited-export/config.json is corrupt"),
    # an output that is an input is refused before it is overwritten
    ("translate {root}/p2p {root}/photo.png --out {root}/photo.png", 1, "photo.png: is the input"),
    ("translate {root}/p2p {root}/photos --out {root}/photos", 1, "photos: is the input"),
    ("translate {root}/p2p {root}/photos/0.png --out {root}/photos/../photos/0.png", 1, "is the input"),
    ("sample {root}/plain --outdir {root}/plain", 1, "--outdir"),
    ("export {root}/plain --out {root}/plain", 1, "plain: is the input"),
    ("edit {root}/plain --image {root}/photo.png --direction d.npz --out {root}/photo.png", 1, "is the input"),
    ("project {root}/styles {root}/photo.png --out {root}/styles", 1, "is the input"),
    (
        "eval --real {root}/photos --fake {root}/photos --metrics memorization --pairs-png {root}/photos/1.png",
        1,
        "1.png: is a file inside the input",
    ),
    ("eval --real {root}/photos --fake {root}/plain --pairs-png pairs.bmp", 2, "end the name in .png"),
    # settings checked before anything is loaded, trained or written
    ("synth {root}/cond --per-class 1 --out s --filter confident --confidence 1.5", 1, "at most 1"),
    ("synth {root}/cond --per-class 1 --out s --filter confident --confidence 0", 1, "--confidence 0.0"),
    ("synth {root}/cond --per-class 1 --out s --confidence 0.5", 1, "only applies with --filter confident"),
    ("experiment augment --data shapes --per-class 5 --seeds 1 --confidence 1.5 --out exp", 1, "--confidence 1.5"),
    ("experiment augment --data shapes --per-class 5 --seeds 1 --resolution 17 --out exp", 1, "--resolution"),
    ("experiment augment --data shapes --per-class 5 --seeds 1 --resolution 2048 --out exp", 1, "supports"),
    ("experiment augment --data shapes --per-class 5 --seeds 1 --gan-augment sparkle --out exp", 1, "--augment"),
    (
        "train --model cyclegan --data-a {root}/notes.txt --data-b {root}/photos --resolution 16 --out runs",
        1,
        "--data-a",
    ),
]


def _snapshot(*folders: Path) -> dict[str, str]:
    """Every file and folder below `folders` with a digest of its content."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            found[str(path)] = "dir" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def _refused(args: list[str], code: int, text: str, *watched: Path) -> str:
    before = _snapshot(*watched)
    result = CliRunner().invoke(main, args)
    output = result.output
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.lower().startswith("error:")]
    assert len(lines) == 1 and text in lines[0], output
    assert _snapshot(*watched) == before, "a refused command changed files"
    return lines[0]


@pytest.mark.parametrize(
    "command, code, text",
    CASES,
    ids=[c[0].split(" --", 1)[0].replace("{root}/", "") + f"-{i}" for i, c in enumerate(CASES)],
)
def test_refused_cleanly(inputs, tmp_path, monkeypatch, command, code, text):
    monkeypatch.chdir(tmp_path)
    args = command.format(root=inputs).split()
    _refused(args, code, text, tmp_path, inputs)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where nothing can be created")
def test_output_where_nothing_can_be_written(inputs, tmp_path):
    # as root, access checks pass and the write itself fails: exit 1; for other users the check refuses it: exit 2
    result = CliRunner().invoke(main, ["sample", str(inputs / "plain"), "--grid", "/proc/ganforge-probe/g.png"])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert "/proc/ganforge-probe" in result.output and not Path("/proc/ganforge-probe").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder(inputs, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _refused(["sample", str(inputs / "plain"), "--grid", str(locked / "g.png")], 2, "cannot write in", tmp_path)
        _refused(["export", str(inputs / "plain"), "--out", str(locked / "exp")], 2, "cannot write in", tmp_path)
    finally:
        locked.chmod(0o755)


# ---- issue 26: counts and sizes bounded before any work; inputs that used to end in a traceback ----------------------
def _write_json(path: Path, value) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


@pytest.fixture(scope="module")
def hostile(inputs) -> Path:
    """Beside `inputs`: labels files, a checkpoint holding only the format marker, exports whose config.json claims
    sizes its weights do not have or nests deeply, a NaN latent, and a folder of one image."""
    import torch

    from ganforge.artifacts import load
    from ganforge.latent.directions import find_directions, save_directions
    from ganforge.latent.project import save_latent

    root = inputs
    for name, labels in {
        "empty": {"positive": [], "negative": []},
        "outside": {str(s): 5 for s in range(10)},
        "big-seed": {"1": 1, "99999999999999999999999": 0},
        "float-seed": {"positive": [1, 2, 3, 4, 5], "negative": [6, 7, 8, 9, 1.5]},
        "deep": '{"1": ' + "[" * 50_000 + "]" * 50_000 + "}",
    }.items():
        _write_json(root / f"labels-{name}.json", labels)
    torch.save({"format": "ganforge-checkpoint", "format_version": 1}, root / "marker.pt")
    claims = {
        "wide": _set("model", "g_channels", 10**8),
        "z-huge": _set("model", "z_dim", 10**9),
        "classes-more": lambda meta: {**meta, "num_classes": 9},
        "classes-huge": lambda meta: {**meta, "num_classes": 10**9},
        "resolution-huge": _set("dataset", "resolution", 2**30),
    }
    for name, change in claims.items():
        shutil.copytree(root / "cond", root / f"claims-{name}")
        hand_edit(root / f"claims-{name}" / "config.json", change)
    for name, stats in {"deep": "[" * 100_000 + "]" * 100_000, "nested": "[" * 40 + "]" * 40}.items():
        shutil.copytree(root / "plain", root / f"json-{name}")
        path = root / f"json-{name}" / "config.json"
        path.write_text(path.read_text().rstrip().rstrip("}") + f', "extra": {stats}}}')
    styles = load(root / "styles")
    save_latent(root / "nan-latent.npz", torch.full((1, styles.module.w_dim), float("nan")), "w", styles)
    save_directions(root / "dirs.npz", find_directions(styles, "sefa", 2))
    (root / "one").mkdir()
    shutil.copy(root / "photo.png", root / "one" / "photo.png")
    return root


HOSTILE = [
    # counts and sizes from flags: refused by the option's range before anything is loaded
    ("directions {root}/styles --method ganspace --samples 100000000 --out d.npz", 2, "2<=x<=100000"),
    ("synth {root}/cond --per-class 100000000 --out s", 2, "1<=x<=100000"),
    ("eval --real {root}/photos --fake {root}/plain --num 100000000", 2, "2<=x<=100000"),
    (
        "directions {root}/styles --method supervised --classifier digits:3 --seed 99999999999999999999 --out d.npz",
        2,
        "0<=x<=4294967295",
    ),
    ("translate {root}/p2p {root}/photo.png --out t.png --overlap -5", 2, "--overlap"),
    ("translate {root}/p2p {root}/photo.png --out t.png --overlap 1000", 1, "--overlap 1000: must be in 0..8"),
    ("edit {root}/styles --seed 1 --direction d.npz --strength 1e308:1e308:3 --out e.png", 1, "must be in -100..100"),
    ("edit {root}/styles --seed 1 --direction d.npz --strength 1e30,2 --out e.png", 1, "must be in -100..100"),
    ("edit {root}/styles --latent {root}/nan-latent.npz --direction {root}/dirs.npz --out e.png", 1, "NaN or infinite"),
    ("train --data shapes --kimg inf --minutes 0.05 --out runs", 1, "--kimg: must be a finite number > 0, got inf"),
    ("train --data shapes --z-dim 100000000 --out runs", 1, "--z-dim: must be in 1..4096"),
    # labels files of supervised directions
    (
        "directions {root}/styles --method supervised --labels {root}/labels-empty.json --out d.npz",
        1,
        "at least 4 latents with and 4 without the attribute, got 0 and 0",
    ),
    (
        "directions {root}/styles --method supervised --labels {root}/labels-outside.json --out d.npz",
        1,
        "label 5 is not 0 or 1",
    ),
    (
        "directions {root}/styles --method supervised --labels {root}/labels-big-seed.json --out d.npz",
        1,
        "is not an integer in 0..4294967295",
    ),
    (
        "directions {root}/styles --method supervised --labels {root}/labels-float-seed.json --out d.npz",
        1,
        "seed 1.5 is not an integer",
    ),
    (
        "directions {root}/styles --method supervised --labels {root}/labels-deep.json --out d.npz",
        1,
        "nested more than 32 levels deep",
    ),
    # k-nearest-neighbour metrics with k or fewer images
    (
        "eval --real {root}/photos --fake {root}/one --metrics pr,dc --extractor digits",
        1,
        "--metrics pr: needs more than k=3 images in each set",
    ),
    (
        "eval --real {root}/photos --fake {root}/photos --metrics pr,dc --extractor digits",
        1,
        "got 3 real and 3 generated",
    ),
    # checkpoints and exports that claim sizes their weights do not have, or nest deeply
    ("info {root}/marker.pt", 1, "incomplete ganforge checkpoint: no 'config'"),
    ("info {root}/json-deep", 1, "config.json: JSON nested more than 32 levels deep"),
    ("info {root}/json-nested", 1, "config.json: JSON nested more than 32 levels deep"),
    ("sample {root}/claims-wide --grid g.png", 1, "field 'model.g_channels' must be in 1..4096, got 100000000"),
    ("sample {root}/claims-z-huge --grid g.png", 1, "field 'model.z_dim' must be in 1..4096"),
    ("sample {root}/claims-classes-more --grid g.png", 1, "'num_classes' is 9, but 'dataset.class_names' names 5"),
    ("sample {root}/claims-classes-huge --grid g.png", 1, "field 'num_classes' must be in 0..10000"),
    ("sample {root}/claims-resolution-huge --grid g.png", 1, "'dataset.resolution' must be a power of two in 4..4096"),
]


@pytest.mark.parametrize("command, code, text", HOSTILE, ids=[f"{c[0].split()[0]}-{i}" for i, c in enumerate(HOSTILE)])
def test_hostile_input_refused_in_one_line(hostile, tmp_path, monkeypatch, command, code, text):
    monkeypatch.chdir(tmp_path)
    _refused(command.format(root=hostile).split(), code, text, tmp_path, hostile)


def test_pr_beside_another_metric_is_named_as_not_computed(hostile, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--real",
            str(hostile / "photos"),
            "--fake",
            str(hostile / "photos"),
            "--metrics",
            "kid,pr",
            "--extractor",
            "digits",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "r.json").read_text())
    assert "kid" in scores and "precision" not in scores
    assert "needs more than k=3 images" in scores["not_computed"]["pr"]


# ---- full disks and read-only file systems: one line naming the file that could not be written -------------------
needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="disk_full finds files through /proc")


@needs_proc
def test_full_disk_names_the_file_and_leaves_no_empty_folders(inputs, tmp_path, disk_full):
    disk_full("seed000002")
    line = _refused(
        ["sample", str(inputs / "plain"), "--num", "4", "--outdir", str(tmp_path / "images")],
        1,
        "no space left on device writing",
        inputs,
    )
    assert line == f"error: no space left on device writing {tmp_path / 'images' / 'seed000002.png'}"
    disk_full("g.png")
    _refused(
        ["sample", str(inputs / "plain"), "--grid", str(tmp_path / "new" / "deeper" / "g.png")],
        1,
        f"no space left on device writing {tmp_path / 'new' / 'deeper' / 'g.png'}",
        inputs,
    )
    assert not (tmp_path / "new").exists()


@needs_proc
@pytest.mark.slow
def test_checkpoint_write_on_a_full_disk_is_one_line_and_keeps_the_checkpoints(tiny, disk_full):
    from ganforge.training import train

    run_dir = train(overrides=tiny, progress=False).run_dir
    kept = {path.name: path.read_bytes() for path in run_dir.glob("checkpoint-*.pt")}
    disk_full(".checkpoint-")
    line = _refused(
        ["train", "--resume", str(run_dir), "--kimg", "0.192", "--out", tiny["train.out"], "--no-progress"],
        1,
        "no space left on device writing",
    )
    assert line.startswith(f"error: no space left on device writing {run_dir / 'checkpoint-'}"), line
    assert {path.name: path.read_bytes() for path in run_dir.glob("checkpoint-*.pt")} == kept
    assert not list(run_dir.glob(".checkpoint-*"))


def test_read_only_run_folder_is_named_rather_than_its_lock(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ganforge.artifacts.rundir import run_dir_lock
    from ganforge.errors import ConfigError

    run_dir = tmp_path / "00000-run"
    run_dir.mkdir()
    real = os.statvfs
    monkeypatch.setattr(
        os, "statvfs", lambda path: SimpleNamespace(f_flag=os.ST_RDONLY) if Path(path) == run_dir else real(path)
    )
    with pytest.raises(ConfigError, match=f"{run_dir}: cannot write in {run_dir} \\(read-only"):
        with run_dir_lock(run_dir):
            pass
    assert list(run_dir.iterdir()) == []
