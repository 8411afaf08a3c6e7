"""Any-size translation: exact round trips, agreement with whole-image inference, no seams, batching, channels."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.imaging import to_float, to_uint8
from ganforge.tiling import translate_array

TILE = 64


def _image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def _checked(model_fn, tile: int = TILE):
    """model_fn wrapped with checks that it only ever sees float [N, C, tile, tile] in [-1, 1]."""

    def run(x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32 and x.shape[2:] == (tile, tile) and x.abs().max() <= 1
        return model_fn(x)

    return run


def _blur(x: torch.Tensor) -> torch.Tensor:
    """A local operator: 3 x 3 box blur with replicated borders, [N, C, H, W] -> [N, C, H, W]."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def _tile_mean(x: torch.Tensor) -> torch.Tensor:
    """Each tile becomes its own mean: the worst case of per-tile statistics (e.g. instance normalisation)."""
    return x.mean(dim=(2, 3), keepdim=True).expand_as(x)


def _whole(model_fn, image: np.ndarray) -> np.ndarray:
    """The model applied to the whole image at once, uint8 [H, W, C] -> uint8 [H, W, C]."""
    x = to_float(torch.from_numpy(image).permute(2, 0, 1)[None])
    return to_uint8(model_fn(x))[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (37, 300), (64, 64), (65, 200), (256, 256), (300, 517), (700, 300)])
def test_identity_model_gives_back_the_image(size):
    image = _image(*size)
    out = translate_array(_checked(lambda x: x), image, TILE)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, image)


def test_small_images_are_reflection_padded_and_single_pixel_axes_replicated():
    seen = []
    translate_array(lambda x: seen.append(x) or x, _image(5, 6, 1), 16)
    translate_array(lambda x: seen.append(x) or x, _image(1, 6, 1), 16)
    reflected = np.pad(_image(5, 6, 1)[:, :, 0], ((5, 6), (5, 5)), mode="reflect")
    replicated = np.pad(
        np.pad(_image(1, 6, 1)[:, :, 0], ((7, 8), (0, 0)), mode="edge"), ((0, 0), (5, 5)), mode="reflect"
    )
    for tiles, padded in zip(seen, (reflected, replicated)):
        np.testing.assert_array_equal(to_uint8(tiles)[0, 0].numpy(), padded)


@pytest.mark.parametrize("size", [(300, 517), (700, 130)])
def test_a_local_operator_matches_whole_image_inference(size):
    """Tile borders, where the blur sees replicated instead of real neighbours, carry almost no weight."""
    image = _image(*size, seed=1)
    expected = _whole(_blur, image)
    out = translate_array(_checked(_blur), image, TILE)
    assert np.abs(out.astype(int) - expected).max() <= 1
    hard = translate_array(_blur, image, TILE, overlap=0)  # without blending the tile borders show
    assert np.abs(hard.astype(int) - expected).max() > 10


def test_per_tile_differences_blend_without_seams():
    """A model whose answer jumps from tile to tile gives a smooth output; with overlap 0 it shows steps."""
    yy, xx = np.mgrid[0:200, 0:300]
    image = np.repeat((0.6 * xx + 0.3 * yy).astype(np.uint8)[:, :, None], 3, axis=2)  # a smooth ramp
    steps = lambda out: max(np.abs(np.diff(out.astype(int), axis=a)).max() for a in (0, 1))  # noqa: E731
    hard = steps(translate_array(_tile_mean, image, TILE, overlap=0))
    soft = steps(translate_array(_tile_mean, image, TILE))
    assert hard >= 25  # adjacent tiles' means differ by about 0.6 * 48 levels
    assert soft <= hard * np.pi / 2 / (TILE // 4) + 1  # a raised-cosine ramp over the 16-pixel overlap


def test_batching_does_not_change_results():
    image = _image(150, 230, seed=2)
    model = lambda x: _blur(x) * 0.5 + _tile_mean(x) * 0.5  # noqa: E731
    results = [translate_array(model, image, TILE, batch_size=size) for size in (1, 3, 100)]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_channel_conversion():
    gray = _image(40, 90, 1, seed=3)
    as_rgb = translate_array(_checked(lambda x: x), gray, TILE, in_channels=3)  # 1 -> 3: repeated
    np.testing.assert_array_equal(as_rgb, np.repeat(gray, 3, axis=2))
    np.testing.assert_array_equal(translate_array(lambda x: x, gray, TILE, in_channels=3, out_channels=1), gray)
    rgb = _image(40, 90, 3, seed=4)
    luma = np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]
    for out in (
        translate_array(lambda x: x, rgb, TILE, in_channels=1),  # 3 -> 1 on the way in
        translate_array(lambda x: x, rgb, TILE, out_channels=1),
    ):  # and on the way out
        assert out.shape == (40, 90, 1) and np.abs(out.astype(int) - luma).max() <= 1


def test_bad_arguments_are_rejected():
    image = _image(70, 70)
    with pytest.raises(ValueError, match="overlap"):
        translate_array(lambda x: x, image, TILE, overlap=TILE // 2 + 1)
    with pytest.raises(ValueError, match="uint8"):
        translate_array(lambda x: x, image.astype(np.float32), TILE)
    with pytest.raises(ValueError, match="model_fn returned"):
        translate_array(lambda x: x[:, :, :-1], image, TILE)
    with pytest.raises(ValueError, match="cannot convert"):
        translate_array(lambda x: x, image, TILE, in_channels=2)
