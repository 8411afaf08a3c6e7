"""Edits: strength parsing, layer ranges, strip shapes, strength 0 is the unedited image, and a layer-restricted
edit leaves the other ws untouched."""

import pytest
import torch

import ganforge
from ganforge.imaging import to_uint8
from ganforge.latent import edit_strip, parse_layers, parse_strengths
from ganforge.latent.edit import edited_latents
from ganforge.latent.spaces import direction_std


def test_strengths_parse_ranges_lists_and_single_values():
    assert parse_strengths("-3:3:7") == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert (
        parse_strengths("-2,0,2.5") == [-2, 0, 2.5] and parse_strengths("3") == [3] and parse_strengths("1:5:1") == [1]
    )
    for bad in ("1:2", "a:b:3", "1:2:0", "1:2:x", "nan", "", "1,,2", "inf"):
        with pytest.raises(ganforge.ConfigError, match="--strength"):
            parse_strengths(bad)


def test_layers_parse_within_the_generator(stylegan, dcgan_z):
    num_ws = stylegan.module.num_ws
    assert parse_layers("0-2", stylegan) == [0, 1, 2] and parse_layers("3", stylegan) == [3]
    assert parse_layers(None, stylegan) is None
    for bad in (f"0-{num_ws}", "4-2", "a", "-1"):
        with pytest.raises(ganforge.ConfigError, match="--layers"):
            parse_layers(bad, stylegan)
    with pytest.raises(ganforge.ConfigError, match="--layers"):
        parse_layers("0-1", dcgan_z)


def test_strip_shapes_and_the_unedited_middle(stylegan, dcgan_z):
    for generator in (stylegan, dcgan_z):
        z = generator.latents([4])
        direction = torch.nn.functional.normalize(torch.randn(z.shape[1] if not generator.has_styles else 16), dim=0)
        strip = edit_strip(generator, z, "z", direction, [-2, 0, 2])
        assert strip.shape == (3, 3, 16, 16) and strip.dtype == torch.uint8
        assert torch.equal(strip[1], torch.from_numpy(generator.generate(1, seed=4)[0]).permute(2, 0, 1))
        assert not torch.equal(strip[0], strip[2])
    with pytest.raises(ganforge.ConfigError, match="--direction"):
        edit_strip(stylegan, stylegan.latents([1]), "z", torch.ones(5), [1])


def test_layer_restricted_edit_leaves_the_other_ws_untouched(stylegan):
    w = stylegan.styles(stylegan.latents([9]))[:, 0]  # [1, w_dim]
    direction = torch.nn.functional.normalize(torch.randn(16), dim=0)
    ws, space = edited_latents(stylegan, w, "w", direction, [0.0, 3.0], layers=[1, 2])
    assert space == "w+" and ws.shape == (2, stylegan.module.num_ws, 16)
    untouched = [i for i in range(stylegan.module.num_ws) if i not in (1, 2)]
    assert torch.equal(ws[1, untouched], w.expand(len(untouched), -1)) and torch.equal(ws[0], w.expand_as(ws[0]))
    expected = w[0] + 3 * direction_std(stylegan, direction, "w") * direction
    assert torch.allclose(ws[1, 1], expected) and torch.allclose(ws[1, 2], expected)
    with torch.no_grad():
        assert torch.equal(
            edit_strip(stylegan, w, "w", direction, [3.0], layers=[1, 2])[0],
            to_uint8(stylegan.synthesize_styles(ws[1:]))[0],
        )
    with pytest.raises(ganforge.ConfigError, match="--layers"):
        edit_strip(stylegan, w, "w", direction, [1.0], layers=[99])


def test_dcgan_edits_move_z_by_strength_in_standard_deviations(dcgan_z):
    z = dcgan_z.latents([2])
    direction = torch.nn.functional.normalize(torch.randn(dcgan_z.z_dim), dim=0)
    edited, space = edited_latents(dcgan_z, z, "z", direction, [-1.5, 2.0])
    assert space == "z" and torch.allclose(edited, z + torch.tensor([[-1.5], [2.0]]) * direction)
