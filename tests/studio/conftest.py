"""Studio fixtures: tiny DCGAN / StyleGAN2 / pix2pix runs trained once per module, the app under a TestClient, and
for browser tests a real server on 127.0.0.1 plus headless Chromium (Debian's /usr/bin/chromium) via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..conftest import TINY

pytest.importorskip("fastapi", reason="the studio needs its extra: pip install 'ganforge[studio]'")

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
WAIT_MS = 180_000  # browser tests: give up waiting for an event after this long


def _train(runs: Path, **overrides) -> Path:
    import ganforge

    result = ganforge.train(overrides={**TINY, "train.out": str(runs), **overrides}, progress=False)
    return result.run_dir


def pairs_folder(root: Path, count: int = 12, holdout: int = 4) -> Path:
    """A/ and B/ folders of edge -> filled-square pairs, plus holdout/A and holdout/B as `ganforge pairs` writes."""
    rng = np.random.default_rng(0)
    for index in range(count + holdout):
        folder = root / "holdout" if index >= count else root
        photo = np.full((16, 16, 3), 255, np.uint8)
        top, left, size = *rng.integers(0, 8, 2), int(rng.integers(4, 8))
        photo[top : top + size, left : left + size] = rng.integers(0, 200, 3)
        edges = np.full((16, 16), 255, np.uint8)
        edges[top, left : left + size] = edges[top + size - 1, left : left + size] = 0
        edges[top : top + size, left] = edges[top : top + size, left + size - 1] = 0
        for side, array in (("A", edges), ("B", photo)):
            (folder / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(folder / side / f"{index:03d}.png")
    return root


def photo_folder(root: Path, count: int = 24) -> Path:
    """Small RGB images of a coloured square on a plain background (decoded in an instant, unlike built-in sets)."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for index in range(count):
        photo = np.full((16, 16, 3), rng.integers(0, 256, 3), np.uint8)
        top, left, size = *rng.integers(0, 8, 2), int(rng.integers(4, 9))
        photo[top : top + size, left : left + size] = rng.integers(0, 256, 3)
        Image.fromarray(photo).save(root / f"photo{index:02d}.png")
    return root


@pytest.fixture(scope="package")
def runs(tmp_path_factory) -> Path:
    """runs/ with a StyleGAN2, a DCGAN and a pix2pix run, 16 px, a second or two each."""
    base = tmp_path_factory.mktemp("studio")
    folder = base / "runs"
    short = {
        "train.total_kimg": 0.032,
        "train.snapshot_every_kimg": 0.016,
        "data.source": str(photo_folder(base / "photos")),
    }
    _train(folder, **short, **{"model.name": "stylegan2", "train.name": "sg2"})
    _train(folder, **short, **{"model.name": "dcgan", "train.name": "dcgan"})
    _train(
        folder,
        **{**short, "model.name": "pix2pix", "data.source": str(pairs_folder(base / "pairs")), "train.name": "pix"},
    )
    return folder


def model_id(runs: Path, suffix: str) -> str:
    """The client path of the run whose name ends in `suffix` (runs are listed under the label 'runs')."""
    (run,) = [p for p in runs.iterdir() if p.name.endswith(suffix)]
    return f"runs/{run.name}"


def local_client(app):
    """A TestClient that talks to the app as a browser on 127.0.0.1 does (the studio checks the Host header)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://127.0.0.1:7860")


@pytest.fixture
def client(runs):
    from ganforge.studio.app import create_app

    with local_client(create_app([], runs)) as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def server(runs):
    """The studio on 127.0.0.1:<free port> in a background thread; yields its base URL."""
    import uvicorn

    from ganforge.studio.app import create_app

    app = create_app([], runs, data_roots=[runs.parent])  # training may read the photo and pair folders
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(30)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("GANFORGE_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="package")
def browser():
    path = chromium_path()
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("CI=true but the playwright package is missing: pip install 'ganforge[studio,test]'")
        pytest.skip("browser tests need the playwright package (pip install playwright)")
    if path is None:
        if in_ci:
            pytest.fail("CI=true but no Chromium found: apt-get install -y chromium")
        pytest.skip("browser tests need Chromium: apt-get install chromium (or set GANFORGE_CHROMIUM)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server, tmp_path):
    """A fresh page on the studio; console errors fail the test; a screenshot is saved at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server)
    # every wait is for an event (a response, an element's state); this is only how long to give up after, generous
    # because a busy machine (a fresh clone's `make test` beside other work) can be many times slower than usual
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
