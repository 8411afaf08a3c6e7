"""Mixed precision (reduced precision in StyleGAN2's high resolutions only) and torch.compile in training."""

import pytest
import torch

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.models.stylegan2 import (
    FP16_CLAMP,
    SQRT2,
    ResidualBlock,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    SynthesisLayer,
)


def _dtypes_by_side(module: torch.nn.Module, kind: type, run) -> dict[int, set]:
    """Output dtypes of every `kind` layer, keyed by the side of its output."""
    seen: dict[int, set] = {}
    hooks = [
        layer.register_forward_hook(lambda m, i, out: seen.setdefault(out.shape[-1], set()).add(out.dtype))
        for layer in module.modules()
        if isinstance(layer, kind)
    ]
    run()
    for hook in hooks:
        hook.remove()
    return seen


def _networks(mixed_resolutions: int):
    torch.manual_seed(0)
    G = StyleGAN2Generator(
        16, 16, 32, 3, base_channels=8, max_channels=16, mapping_layers=2, mixed_resolutions=mixed_resolutions
    ).eval()
    D = StyleGAN2Discriminator(32, 3, base_channels=8, max_channels=16, mixed_resolutions=mixed_resolutions)
    return G, D


def test_only_the_highest_resolutions_run_in_reduced_precision():
    G, D = _networks(mixed_resolutions=2)  # 32 and 16 px reduced; 8 and 4 px stay fp32
    z = torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g_types = _dtypes_by_side(G, SynthesisLayer, lambda: G(z))
        images = G(z)
        d_types = _dtypes_by_side(D, ResidualBlock, lambda: D(images))  # keyed by output side: 16, 8, 4
        logits = D(images)
    assert g_types == {4: {torch.float32}, 8: {torch.float32}, 16: {torch.bfloat16}, 32: {torch.bfloat16}}
    assert d_types == {16: {torch.bfloat16}, 8: {torch.bfloat16}, 4: {torch.float32}}
    assert images.dtype == logits.dtype == torch.float32
    with torch.no_grad():
        reference = G(z)
    assert (images - reference).abs().max() < 0.05 * reference.abs().max()  # the same images, to bf16 accuracy


def test_mixed_resolutions_zero_keeps_everything_fp32():
    G, _ = _networks(mixed_resolutions=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        types = _dtypes_by_side(G, SynthesisLayer, lambda: G(torch.randn(2, 16)))
    assert set().union(*types.values()) == {torch.float32}


def test_fp16_layers_clamp_their_activations():
    layer = SynthesisLayer(4, 4, 8, 8)
    torch.nn.init.constant_(layer.conv.weight, 100.0)
    with torch.autocast("cpu", dtype=torch.float16), torch.no_grad():
        out = layer(torch.full((1, 4, 8, 8), 50.0, dtype=torch.float16), torch.ones(1, 8), "const")
    # the layer's output leaves its sqrt(2) activation gain to the next layer: clamped at FP16_CLAMP after that gain
    bound = torch.tensor(FP16_CLAMP / SQRT2, dtype=torch.float16)
    assert out.dtype == torch.float16 and torch.isfinite(out).all() and out.abs().max() == bound


def _train(tmp_path, name, **overrides):
    return ganforge.train(
        overrides={
            "data.source": "shapes",
            "data.resolution": 16,
            "model.name": "stylegan2",
            "model.g_channels": 8,
            "model.d_channels": 8,
            "model.w_dim": 16,
            "model.z_dim": 16,
            "model.mapping_layers": 2,
            "train.batch": 8,
            "train.total_kimg": 0.032,
            "train.snapshot_every_kimg": 1,
            "train.grid_size": 4,
            "loss.r1_gamma": 0.1,
            "loss.r1_interval": 2,
            "loss.pl_weight": 2.0,
            "loss.pl_interval": 2,
            "model.style_mixing": 0.5,
            "train.out": str(tmp_path / name),
            **overrides,
        },
        progress=False,
    )


@pytest.mark.slow
def test_bf16_training_keeps_fp32_weights_and_learns(tmp_path):
    plain = ckpt.load(_train(tmp_path, "fp32").checkpoint)
    mixed = ckpt.load(_train(tmp_path, "bf16", **{"train.precision": "bf16"}).checkpoint)
    assert all(v.dtype == torch.float32 for v in mixed["G"].values() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in mixed["G"].values())
    differences = [(mixed["G"][k] - plain["G"][k]).abs().max() for k in plain["G"] if plain["G"][k].is_floating_point()]
    assert max(differences) > 0  # reduced precision was in effect ...
    assert max(differences) < 0.05  # ... and trained the same way


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path, monkeypatch):
    """--compile (here through the aot_eager backend, quick on a CPU) takes the same steps as eager training,
    including the R1 and path-length steps, which run on the eager modules."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv("GANFORGE_COMPILE_BACKEND", "aot_eager")
    eager = ckpt.load(_train(tmp_path, "eager").checkpoint)
    counters.clear()
    compiled = ckpt.load(_train(tmp_path, "compiled", **{"train.compile": True}).checkpoint)
    assert counters["stats"]["unique_graphs"] >= 3  # G, D and the frozen D of the G step were compiled
    for key in ("G", "D"):
        for name, value in eager[key].items():
            assert torch.allclose(value, compiled[key][name], atol=1e-5), (key, name)
    torch._dynamo.reset()


def test_bad_precision_settings_name_their_flag():
    with pytest.raises(ConfigError, match="--precision"):
        resolve({"train.precision": "fp8"})
    with pytest.raises(ConfigError, match="--mixed-resolutions"):
        resolve({"model.mixed_resolutions": -1})
