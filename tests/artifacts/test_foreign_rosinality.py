"""rosinality/stylegan2-pytorch checkpoints, read by artifacts/foreign/rosinality.py as the NVIDIA-exact
"stylegan2-ada" family: exact outputs (G_ema, G, D), truncation, ws -> image, style mixing; `info`; bad files.

How the fixtures in fixtures/rosinality/ were made (once, outside the repo; none of their code is in ganforge):
their `model.py` and `op/` in a scratch folder, CPU, torch 2.13, with the two CUDA-extension `load(...)` calls in
op/ removed (on CPU their code takes its native PyTorch paths, `upfirdn2d_native` and the CPU branch of
`fused_leaky_relu`), and one change to keep the files small: their width table replaced by {4: 16, 8: 16, 16: 16,
32: 8, 64: 4} (= min(256 / R, 16), the form of their table). `Generator(32, 16, 4)` twice (g, g_ema) and
`Discriminator(32)`, every parameter re-drawn (weights N(0, 1), mapping weights N(0, 1) / 0.01 as their
EqualLinear stores them, biases N(0, 0.1), modulation biases 1 + N(0, 0.1), noise strengths N(0, 0.3)) and the
`noises` buffers N(0, 1). Saved as their train.py saves: {"g", "d", "g_ema", "g_optim", "d_optim" (fresh Adam
states), "args" (an argparse.Namespace), "ada_aug_p": 0.25} -> rosinality_000100.pt; and as their
convert_weight.py saves: {"g_ema", "latent_avg"} -> rosinality_converted.pt, latent_avg = the mean latent below.
References (rosinality_000100.npz), all with `randomize_noise=False`:
- image = g_ema([z], ...), z = randn(2, 16) from torch.Generator seed 1; raw = g([z], ...)
- mean_latent = g_ema.mean_latent(4096) after torch.manual_seed(123); truncated = g_ema([z], truncation=0.7,
  truncation_latent=mean_latent, ...)
- ws = g_ema.style(randn(16, 16) from seed 3).view(2, 8, 16); from_ws = g_ema([ws], input_is_latent=True, ...)
- mixed = g_ema([z, z2], inject_index=3, ...), z2 from seed 2
- d_logits = d(cat([image, truncated])) (minibatch-stddev group of 4)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganforge import models
from ganforge.artifacts import describe
from ganforge.artifacts.foreign import read
from ganforge.artifacts.generator import load
from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.data.base import DatasetInfo
from ganforge.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "rosinality"
CHECKPOINT, CONVERTED = FIXTURES / "rosinality_000100.pt", FIXTURES / "rosinality_converted.pt"
TOLERANCE = 1e-4  # max |delta| against their network (issue 29); measured: <= 5e-6


@pytest.fixture(scope="module")
def reference():
    return {key: value for key, value in np.load(FIXTURES / "rosinality_000100.npz").items()}


def _delta(ours: torch.Tensor, theirs: np.ndarray) -> float:
    return float(np.abs(ours.detach().numpy() - theirs).max())


def test_generator_matches_with_constant_noise(reference):
    generator = load(CHECKPOINT)
    assert generator.model.name == "stylegan2-ada" and generator.module.num_ws == 8
    z = torch.from_numpy(reference["z"])
    assert _delta(generator.synthesize(z), reference["image"]) <= TOLERANCE
    assert _delta(generator.synthesize_styles(torch.from_numpy(reference["ws"])), reference["from_ws"]) <= TOLERANCE
    ws = torch.cat([generator.styles(z)[:, :3], generator.styles(torch.from_numpy(reference["z2"]))[:, 3:]], dim=1)
    assert _delta(generator.synthesize_styles(ws), reference["mixed"]) <= TOLERANCE  # their inject_index=3
    assert reference["image"].std() > 0.5


def test_truncation_toward_the_stored_latent_average(reference):
    generator = load(CONVERTED)  # convert_weight.py's file: latent_avg is their mean latent
    z = torch.from_numpy(reference["z"])
    assert _delta(generator.synthesize(z, truncation=float(reference["psi"])), reference["truncated"]) <= TOLERANCE
    assert _delta(generator.synthesize(z), reference["image"]) <= TOLERANCE


@pytest.mark.slow
def test_without_a_stored_average_w_avg_is_the_mean_latent(reference):
    """Their mean_latent(4096) is random; ours is seeded; both estimate the same mean."""
    generator = load(CHECKPOINT)
    spread = generator.styles(torch.randn(4096, 16, generator=torch.Generator().manual_seed(7)))[:, 0].std(dim=0)
    error = (generator.module.w_avg - torch.from_numpy(reference["mean_latent"][0])).abs() / (spread / 64)
    assert float(error.max()) < 5  # within 5 standard errors of a 4096-sample mean, every dimension
    assert torch.equal(load(CHECKPOINT).module.w_avg, generator.module.w_avg)  # reproducible


def test_raw_generator_and_discriminator_match(reference):
    imported = read(CHECKPOINT)
    assert imported.augment_p == 0.25 and set(imported.contents) >= {"g", "d", "g_ema", "args"}
    generator, discriminator = models.build(ModelConfig(**imported.model), DatasetInfo.from_dict(imported.dataset))
    generator.load_state_dict(imported.generator_raw)
    discriminator.load_state_dict(imported.discriminator)
    with torch.no_grad():
        raw = generator.eval()(torch.from_numpy(reference["z"]), None, noise_mode="const")
        images = torch.from_numpy(np.concatenate([reference["image"], reference["truncated"]]))
        logits = discriminator.eval()(images, None)
    assert _delta(raw, reference["raw"]) <= TOLERANCE
    assert _delta(logits.reshape(-1, 1), reference["d_logits"]) <= TOLERANCE


def test_info_says_what_is_inside():
    details = describe(CHECKPOINT)
    assert (details["format"], details["resolution"], details["z_dim"], details["augment_p"]) == (
        "rosinality",
        32,
        16,
        0.25,
    )
    assert details["contents"]["d"].startswith("Discriminator") and details["training_args"]["n_mlp"] == 4
    assert "latent_avg" in describe(CONVERTED)["truncation"]
    result = CliRunner().invoke(main, ["info", str(CHECKPOINT)])
    assert result.exit_code == 0 and "rosinality" in result.output and "g_ema" in result.output, result.output


def test_sample_command(tmp_path):
    result = CliRunner().invoke(
        main, ["sample", str(CONVERTED), "--num", "2", "--grid", str(tmp_path / "g.png"), "--truncation", "0.7"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").stat().st_size > 0


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase its error must contain)."""
    data = torch.load(CONVERTED, weights_only=True)
    g = data["g_ema"]
    files = {}

    def save(name: str, value, phrase: str) -> None:
        files[name] = (tmp_path / f"{name}.pt", phrase)
        torch.save(value, files[name][0])

    (tmp_path / "truncated.pt").write_bytes(CHECKPOINT.read_bytes()[:20000])
    files["truncated"] = (tmp_path / "truncated.pt", "truncated")
    (tmp_path / "empty.pt").write_bytes(b"")
    files["empty"] = (tmp_path / "empty.pt", "empty")
    save("missing", {"g_ema": {k: v for k, v in g.items() if k != "convs.1.noise.weight"}}, "lacks convs.1.noise")
    save("extra", {"g_ema": {**g, "convs.1.extra": torch.zeros(1)}}, "do not fit")
    save("shape", {"g_ema": {**g, "convs.2.conv.weight": torch.zeros(1, 16, 8, 3, 3)}}, "shape")
    save("kernel", {"g_ema": {**g, "convs.0.conv.blur.kernel": torch.ones(4, 4)}}, "blur kernel")
    save("latent", {**data, "latent_avg": torch.zeros(3)}, "latent_avg")
    save("other", {"model": {"encoder.weight": torch.zeros(2)}}, "")
    return files


def test_bad_files_give_one_line_naming_the_file(tmp_path):
    for name, (path, phrase) in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError) as caught:
            load(path)
        message = str(caught.value)
        assert path.name in message and "\n" not in message and phrase in message, (name, message)


def test_import_writes_an_export_with_the_same_outputs(tmp_path, reference):
    result = CliRunner().invoke(main, ["import", str(CONVERTED), "--out", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    generator = load(tmp_path / "export")
    z = torch.from_numpy(reference["z"])
    assert _delta(generator.synthesize(z, truncation=float(reference["psi"])), reference["truncated"]) <= TOLERANCE
