"""The studio's defences (issue 21): bounded translate work (padded size, aspect ratio, deadline, cancel on
disconnect), Host and Origin checks, training data limited to built-in sets and data roots, streamed body limits,
capped spawns, lanes keyed by checkpoint with listings that never wait on models, paths relative to the runs folder,
giant images as 413, an offline /docs, and a checkpoint rotated away while loading."""

from __future__ import annotations

import asyncio
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from ganforge.studio.app import create_app
from ganforge.studio.budget import Budget
from ganforge.studio.errors import StudioError
from ganforge.studio.guard import RequestGuard, bound_names
from ganforge.studio.uploads import UploadLimits

from .conftest import local_client, model_id
from .test_api import assert_error, decoded, png


def run_async(coroutine):
    """asyncio.run on a fresh thread (the browser tests' Playwright may own this thread's event loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def translate(client, model: str, image: np.ndarray, fit: bool):
    return client.post(
        "/api/translate",
        params={"model": model, "fit": str(fit).lower()},
        files={"image": ("i.png", png(image), "image/png")},
    )


# ---- 1. translate work is bounded
def test_translate_bounded_by_padded_size_and_aspect(runs):
    limits = UploadLimits(max_tiled_pixels=30 * 30)
    with local_client(create_app([], runs, limits=limits)) as client:
        model = model_id(runs, "pix")  # 16 px tiles
        white = np.full((1, 2000, 3), 255, np.uint8)  # 1 x 2000: 2000 px decoded, 32000 once padded to tiles
        assert_error(translate(client, model, white, fit=False), 413, "elongated")
        assert_error(translate(client, model, np.full((20, 50, 3), 255, np.uint8), fit=False), 413, "tiling limit")
        assert decoded(translate(client, model, np.full((20, 50, 3), 255, np.uint8), fit=True)).shape[:2] == (20, 50)
        assert decoded(translate(client, model, np.full((24, 30, 3), 255, np.uint8), fit=False)).shape[:2] == (24, 30)


def test_translate_deadline(runs):
    with local_client(create_app([], runs, limits=UploadLimits(deadline_s=0.0))) as client:
        response = translate(client, model_id(runs, "pix"), np.full((24, 30, 3), 255, np.uint8), fit=False)
        assert_error(response, 504, "longer than the limit")


def test_tiled_work_stops_when_checked(runs):
    """`check` runs before every batch of tiles: when it raises (client gone), no further tile is computed."""
    from ganforge.artifacts import load
    from ganforge.studio.render import translate_image

    generator = load(runs / model_id(runs, "pix").split("/", 1)[1])
    budget, calls = Budget(60), []

    def check():
        calls.append(1)
        if len(calls) == 2:
            budget.cancelled.set()
        budget.check()

    with pytest.raises(StudioError) as caught:
        translate_image(generator, np.full((16, 16 * 40, 3), 255, np.uint8), fit=False, check=check)
    assert caught.value.status == 499 and len(calls) == 2  # 40+ tiles in batches of 8: stopped at the second


def test_translate_stops_when_the_client_disconnects(runs, monkeypatch):
    """Through a real server: the client gives up after 0.5 s; the tiled work stops soon after, not 5 s later."""
    import threading
    import time

    import httpx
    import uvicorn

    from ganforge.studio import render

    from .conftest import _free_port

    batches = []
    real_translator = render.translator

    def slow_translator(generator):
        model_fn = real_translator(generator)

        def slow(tiles):
            batches.append(time.monotonic())
            time.sleep(0.1)
            return model_fn(tiles)

        return slow

    monkeypatch.setattr(render, "translator", slow_translator)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app([], runs), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        image = png(np.full((256, 256, 3), 255, np.uint8))  # 441 tiles of 16 px: 56 batches, 5.6 s at 0.1 s each
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"http://127.0.0.1:{port}/api/translate",
                params={"model": model_id(runs, "pix"), "fit": "false"},
                files={"image": ("i.png", image, "image/png")},
                timeout=httpx.Timeout(10, read=0.5),
            )
        left = time.monotonic()
        time.sleep(1.5)
        assert batches and len(batches) < 20 and batches[-1] < left + 0.6, (len(batches), batches[-1] - left)
    finally:
        server.should_exit = True
        thread.join(30)


def test_budget_watch_notices_a_disconnect():
    class Gone:
        polls = 0

        async def is_disconnected(self):
            self.polls += 1
            return self.polls >= 2

    budget = Budget(60)
    run_async(asyncio.wait_for(budget.watch(Gone()), 5))
    with pytest.raises(StudioError, match="disconnected"):
        budget.check()


# ---- 2. Host and Origin
def test_host_and_origin_checks(runs):
    with local_client(create_app([], runs, allowed_hosts=("127.0.0.1", "localhost", "::1", "studio.lan"))) as client:
        assert client.get("/api/models").status_code == 200
        assert_error(client.get("/api/models", headers={"host": "evil.example.com"}), 400, "--allowed-host")
        assert client.get("/api/models", headers={"host": "studio.lan:7860"}).status_code == 200
        assert client.get("/api/models", headers={"host": "[::1]:7860"}).status_code == 200
        form = {"data": "x" * 600}  # refused by the form check if it gets that far (400), never started
        assert_error(
            client.post("/api/jobs", json=form, headers={"origin": "http://evil.example.com"}), 403, "cross-origin"
        )
        assert_error(client.post("/api/jobs", json=form, headers={"sec-fetch-site": "cross-site"}), 403, "cross-site")
        assert_error(
            client.post(
                "/api/jobs", json=form, headers={"origin": "http://127.0.0.1:7860", "sec-fetch-site": "same-origin"}
            ),
            400,
            "characters",
        )
        # reading is not state-changing: a foreign Origin on GET gets the (same-origin-policy protected) answer
        assert client.get("/api/models", headers={"origin": "http://evil.example.com"}).status_code == 200
    assert bound_names("127.0.0.1") == ("127.0.0.1", "localhost", "::1")
    assert "studio.lan" in bound_names("127.0.0.1", ["Studio.LAN:80"]) and "*" in bound_names("0.0.0.0", ["*"])
    with local_client(create_app([], runs, allowed_hosts=("*",))) as anyhost:
        assert anyhost.get("/api/models", headers={"host": "evil.example.com"}).status_code == 200


# ---- 3. training data
def test_training_data_only_builtin_or_under_data_roots(runs, tmp_path):
    from ganforge.studio.jobs import DataAccess, train_command

    photos = tmp_path / "data" / "photos"
    photos.mkdir(parents=True)
    access = DataAccess([runs, tmp_path / "data"])
    command = train_command({"data": str(photos), "kimg": "2", "batch": "8"}, runs, "x", access)
    assert f"--data={photos}" in command and "--kimg=2.0" in command and "--batch=8" in command
    assert f"--data={photos}" in train_command({"data": "data/photos"}, runs, "x", access)
    assert "--data=shapes" in train_command({"data": "shapes"}, runs, "x", access)
    assert f"--data=pairs:{photos}" in train_command({"data": f"pairs:{photos}", "model": "pix2pix"}, runs, "x", access)
    for outside in ("/usr/share/pixmaps", f"pairs:{tmp_path}", "../etc", str(photos / ".." / ".." / "..")):
        with pytest.raises(StudioError) as caught:
            train_command({"data": outside}, runs, "x", access)
        assert caught.value.status == 403, outside
    choices = access.choices()
    assert "shapes" in choices and "digits" in choices and "data/photos" in choices
    with local_client(create_app([], runs, data_roots=[tmp_path / "data"])) as client:
        assert "data/photos" in client.get("/api/data").json()


# ---- 4. body limits and spawns
def test_chunked_body_is_cut_off_at_the_limit():
    """No Content-Length: the guard counts the chunks and answers 413 without reading the rest."""
    app_called, sent, read = [], [], []
    chunks = [b"x" * 1000] * 100

    async def app(scope, receive, send):
        app_called.append(1)

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": chunks[len(read) - 1], "more_body": len(read) < len(chunks)}

    async def send(message):
        sent.append(message)

    guard = RequestGuard(app, ("127.0.0.1",), upload_bytes=10_000, body_bytes=5_000)
    scope = {
        "type": "http",
        "method": "POST",
        "headers": [
            (b"host", b"127.0.0.1:7860"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    run_async(guard(scope, receive, send))
    assert sent[0]["status"] == 413 and not app_called and len(read) == 6  # 6 KB read of 100 KB
    read.clear(), sent.clear()
    scope["headers"][1] = (b"content-type", b"multipart/form-data; boundary=x")
    run_async(guard(scope, receive, send))
    assert sent[0]["status"] == 413 and len(read) == 11  # uploads get the larger limit


def test_big_json_bodies_refused(client):
    assert_error(client.post("/api/jobs", json={"data": "x" * 2**20}), 413, "limit")
    big = (b'{"data": "' + b"x" * 2**20 + b'"}' for _ in range(1))  # a generator: sent chunked, no length
    assert_error(client.post("/api/jobs", content=big, headers={"content-type": "application/json"}), 413, "limit")


def test_spawns_are_capped(runs, tmp_path, monkeypatch):
    import subprocess

    from ganforge.studio import jobs as jobs_module

    started = []

    class FakeProcess:
        def __init__(self, command, **options):
            started.append(command)

        def poll(self):
            return 1  # exits at once, as a failing run does

        def wait(self, timeout=None):
            return 1

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    registry = jobs_module.Jobs(tmp_path, jobs_module.DataAccess([tmp_path]), max_starts_per_minute=3)
    for _ in range(3):
        registry.start({"data": "shapes", "kimg": 1})
    with pytest.raises(StudioError) as caught:
        registry.start({"data": "shapes", "kimg": 1})
    assert caught.value.status == 429 and len(started) == 3


# ---- 5. lanes and listings
def test_one_lane_per_checkpoint_and_listings_never_wait(runs):
    import httpx

    app = create_app([], runs, compute_threads=1)
    studio = app.state.studio
    run = model_id(runs, "dcgan")
    (checkpoint,) = sorted((runs / run.split("/", 1)[1]).glob("checkpoint-*.pt"))[-1:]
    client_checkpoint = f"{run}/{checkpoint.name}"

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7860") as http:
            for model in (run, client_checkpoint):
                assert (await http.get("/api/generate", params={"model": model, "seed": 1})).status_code == 200
            assert list(studio.lanes._lanes) == [str(checkpoint)]  # the run folder and its file share one lane
            await studio.compute.acquire_on_behalf_of("test")  # every compute thread busy
            try:
                waiting = asyncio.create_task(http.get("/api/generate", params={"model": run, "seed": 2}))
                for path, params in [
                    ("/api/models", {}),
                    ("/api/runs", {}),
                    ("/api/run", {"run": run}),
                    ("/api/game/stats", {"model": run}),
                    ("/api/data", {}),
                ]:
                    response = await asyncio.wait_for(http.get(path, params=params), 10)
                    assert response.status_code == 200, (path, response.text)
                assert not waiting.done()
            finally:
                studio.compute.release_on_behalf_of("test")
            assert (await waiting).status_code == 200

    run_async(scenario())


# ---- 7. messages, giant images, docs
def test_errors_name_paths_relative_to_the_runs_folder(runs, tmp_path):
    broken = tmp_path / "runs" / "00001-broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    (broken / "checkpoint-00000001.pt").write_bytes(b"not a checkpoint")
    with local_client(create_app([], tmp_path / "runs")) as client:
        response = client.get("/api/model", params={"model": "runs/00001-broken"})
        assert response.status_code == 422
        message = response.json()["error"]
        assert str(tmp_path) not in message and "runs/00001-broken" in message, message


def giant_png_header(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (the pixel data is never read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_giant_png_is_413(client, runs):
    for side in (20000, 5000):
        response = client.post(
            "/api/translate",
            params={"model": model_id(runs, "pix")},
            files={"image": ("g.png", giant_png_header(side, side), "image/png")},
        )
        assert_error(response, 413, "limit")


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/api/generate" in page.text and "/openapi.json" in page.text
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    assert client.get("/openapi.json").json()["paths"]["/api/translate"]


# ---- issue 26: a training run rotating its checkpoints
def test_checkpoint_rotated_away_while_loading(runs, tmp_path, monkeypatch):
    from ganforge.studio import state

    run = tmp_path / "runs" / "00000-rotating"
    shutil.copytree(runs / model_id(runs, "dcgan").split("/", 1)[1], run)
    real_model_file, calls = state.model_file, []

    def rotating(path: Path) -> Path:
        calls.append(path)
        if len(calls) == 1:  # listed just before the trainer deleted it
            return path / "checkpoint-00000000.pt"
        return real_model_file(path)

    monkeypatch.setattr(state, "model_file", rotating)
    with local_client(create_app([], tmp_path / "runs")) as client:
        image = decoded(client.get("/api/generate", params={"model": "runs/00000-rotating", "seed": 3}))
        assert image.ndim == 3 and len(calls) == 2
