"""The Pillow line plot: linear and logarithmic y axes place points where their values say."""

import numpy as np
from PIL import Image

from ganforge.experiments.plot import COLOURS, HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, WIDTH, line_plot


def point_rows(path) -> list[float]:
    """Mean row of the first series' colour around each of the three x positions (its point markers)."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    mask = np.all(pixels == COLOURS[0], axis=2)
    centres = [MARGIN_LEFT + (i + 0.5) * (WIDTH - MARGIN_RIGHT - MARGIN_LEFT) / 3 for i in range(3)]
    return [np.nonzero(mask[:, round(c) - 1 : round(c) + 2])[0].mean() for c in centres]


def test_log_axis_places_a_geometric_sequence_evenly(tmp_path):
    line_plot(
        {"fid": {4: (100.0, 0.0), 8: (10.0, 0.0), 12: (1.0, 0.0)}},
        tmp_path / "log.png",
        title="t",
        y_max=None,
        log_y=True,
    )
    top, middle, low = point_rows(tmp_path / "log.png")
    assert top < middle < low < HEIGHT
    assert abs((middle - top) - (low - middle)) < 3  # 100 -> 10 -> 1: equal steps on a log axis
    line_plot({"acc": {4: (100.0, 0.0), 8: (10.0, 0.0), 12: (1.0, 0.0)}}, tmp_path / "lin.png", title="t")
    top, middle, low = point_rows(tmp_path / "lin.png")
    assert (middle - top) > 5 * (low - middle)  # linear: 90 units then 9
