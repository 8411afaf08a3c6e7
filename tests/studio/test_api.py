"""The studio's HTTP API: every endpoint's good answer and its bad input (wrong types, huge or corrupt images, a
missing model, path traversal), always a JSON error with a 4xx status and never a 500."""

from __future__ import annotations

import asyncio
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from ganforge.studio.app import create_app
from ganforge.studio.uploads import UploadLimits

from .conftest import local_client, model_id


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def assert_error(response, status: int, words: str = "") -> None:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert words.lower() in message.lower(), message
    assert "Traceback" not in message


def test_models_listed_and_described(client, runs):
    listed = {m["id"]: m for m in client.get("/api/models").json()}
    assert {model_id(runs, s) for s in ("sg2", "dcgan", "pix")} <= set(listed)
    assert listed[model_id(runs, "pix")]["paired"] and not listed[model_id(runs, "sg2")]["paired"]
    info = client.get("/api/model", params={"model": model_id(runs, "sg2")}).json()
    assert info["has_styles"] and info["resolution"] == 16 and info["num_ws"] > 1
    assert_error(client.get("/api/model", params={"model": "runs/99999-nothing"}), 404, "no such file")
    assert_error(client.get("/api/model", params={"model": "elsewhere/x"}), 404, "unknown root")
    assert_error(client.get("/api/model"), 422, "model")


def test_each_model_is_listed_for_the_pages_of_its_task(tmp_path):
    """Issue 25: a CycleGAN run translates images, so it is listed for the Sketch page (`paired`) and not for the
    Generate, Game and Project pages; the listing's kind comes from the model's declared Task."""
    from ganforge.config import resolve

    runs = tmp_path / "runs"
    for index, name in enumerate(("cyclegan", "pix2pix", "dcgan", "stylegan2")):
        run = runs / f"{index:05d}-{name}"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(resolve({"model.name": name}).to_dict()))
    with local_client(create_app([], runs)) as client:
        listed = {m["model"]: m for m in client.get("/api/models").json()}
    assert {name: (m["task"], m["paired"]) for name, m in listed.items()} == {
        "cyclegan": ("unpaired", True),
        "pix2pix": ("image-to-image", True),
        "dcgan": ("noise-to-image", False),
        "stylegan2": ("noise-to-image", False),
    }


@pytest.mark.parametrize("bad", ["../", "runs/../../etc/passwd", "/etc/passwd", "runs/..", "runs\\..\\x", "runs/\x00"])
def test_traversal_refused(client, bad):
    for url, key in (("/api/generate", "model"), ("/api/run", "run")):
        response = client.get(url, params={key: bad})
        assert response.status_code in (400, 403), (url, bad, response.text)
        assert "error" in response.json()


def test_files_only_inside_roots_and_only_images_or_logs(client, runs, tmp_path):
    run = model_id(runs, "sg2")
    grid = client.get(f"/api/files/{run}/samples/final.png")
    assert decoded(grid).ndim == 3
    assert_error(
        client.get(f"/api/files/{run}/config.json".replace("config.json", "checkpoint-00000002.pt")), 403, "only"
    )
    assert client.get("/api/files/runs/%2e%2e/%2e%2e/etc/passwd").status_code in (403, 404)
    assert client.get("/api/files//etc/passwd").status_code in (403, 404)
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(np.zeros((4, 4, 3), np.uint8)))
    link = runs / "link-out.png"
    os.symlink(outside, link)
    try:
        assert_error(client.get("/api/files/runs/link-out.png"), 403, "outside")
        assert_error(client.get("/api/generate", params={"model": "runs/link-out.png"}), 403, "outside")
    finally:
        link.unlink()


def test_generate_is_deterministic_and_truncation_matters(client, runs):
    model = model_id(runs, "sg2")
    first = decoded(client.get("/api/generate", params={"model": model, "seed": 5}))
    again = decoded(client.get("/api/generate", params={"model": model, "seed": 5}))
    squeezed = decoded(client.get("/api/generate", params={"model": model, "seed": 5, "truncation": 0.2}))
    random_noise = decoded(client.get("/api/generate", params={"model": model, "seed": 5, "noise": "random"}))
    assert first.shape == (16, 16, 3) and np.array_equal(first, again)
    assert not np.array_equal(first, squeezed) and not np.array_equal(first, random_noise)
    # interpolation at t = 0 is seed a's own image
    start = decoded(client.get("/api/interpolate", params={"model": model, "a": 5, "b": 9, "t": 0}))
    assert np.abs(start.astype(int) - first).max() <= 1
    dcgan = decoded(client.get("/api/interpolate", params={"model": model_id(runs, "dcgan"), "a": 1, "b": 2}))
    assert dcgan.shape == (16, 16, 3)


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"seed": "abc"}, 422, "seed"),
        ({"seed": -1}, 422, "seed"),
        ({"seed": 2**40}, 422, "seed"),
        ({"truncation": "x"}, 422, "truncation"),
        ({"truncation": 5}, 422, "truncation"),
        ({"noise": "loud"}, 422, "noise"),
        ({"class_index": 3}, 400, "not class-conditional"),
        ({"stream": "s" * 100}, 422, "stream"),
    ],
)
def test_generate_bad_input(client, runs, params, status, words):
    assert_error(client.get("/api/generate", params={"model": model_id(runs, "sg2"), **params}), status, words)


def test_wrong_model_kind(client, runs):
    assert_error(client.get("/api/generate", params={"model": model_id(runs, "pix")}), 422, "image-to-image")
    upload = {"image": ("a.png", png(np.zeros((16, 16, 3), np.uint8)), "image/png")}
    assert_error(client.post("/api/translate", params={"model": model_id(runs, "sg2")}, files=upload), 422, "pix2pix")
    assert_error(client.get("/api/mix", params={"model": model_id(runs, "dcgan")}), 400, "style")
    assert_error(client.post("/api/game/round", json={"model": model_id(runs, "pix")}), 422, "image-to-image")


def test_mix(client, runs):
    grid = decoded(client.get("/api/mix", params={"model": model_id(runs, "sg2"), "rows": "1,2", "cols": "3,4,5"}))
    assert grid.shape == (3 * 18 + 2, 4 * 18 + 2, 3)
    for rows in ("a,b", "", ",".join(["1"] * 9), "-4"):
        assert_error(client.get("/api/mix", params={"model": model_id(runs, "sg2"), "rows": rows}), 400, "rows")
    assert_error(client.get("/api/mix", params={"model": model_id(runs, "sg2"), "crossover": 99}), 400, "crossover")


def test_translate_sizes_and_example(client, runs):
    model = model_id(runs, "pix")
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[60:200, 60] = 0
    for fit in ("true", "false"):
        out = decoded(
            client.post(
                "/api/translate",
                params={"model": model, "fit": fit},
                files={"image": ("s.png", png(sketch), "image/png")},
            )
        )
        assert out.shape == (256, 256, 3)
    small = decoded(
        client.post(
            "/api/translate", params={"model": model}, files={"image": ("s.png", png(sketch[:10, :7, 0]), "image/png")}
        )
    )
    assert small.shape == (10, 7, 3)
    example = client.get("/api/example", params={"model": model, "seed": 3})
    assert decoded(example).shape[:2] == (16, 16)
    assert example.headers["x-held-out"] == "true" and example.headers["x-example-file"]


def test_uploads_refused_cleanly(client, runs):
    model = model_id(runs, "pix")

    def send(data: bytes, name: str = "x.png"):
        return client.post("/api/translate", params={"model": model}, files={"image": (name, data, "image/png")})

    assert_error(send(b""), 400, "empty")
    assert_error(send(b"this is not an image"), 415, "not a readable image")
    assert_error(send(png(np.zeros((32, 32, 3), np.uint8))[:60]), 400, "")  # truncated PNG
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="TIFF")
    assert_error(send(buffer.getvalue(), "x.tif"), 415, "TIFF")
    bomb = io.BytesIO()
    Image.new("L", (5000, 5000)).save(bomb, format="PNG")  # 25 megapixels in ~25 kB
    assert len(bomb.getvalue()) < 100_000
    assert_error(send(bomb.getvalue()), 413, "pixels")
    assert_error(client.post("/api/translate", params={"model": model}), 422, "image")


def test_upload_byte_limit(runs):
    with local_client(create_app([], runs, limits=UploadLimits(max_bytes=2000, max_pixels=64 * 64))) as small:
        model = model_id(runs, "pix")
        noisy = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
        response = small.post(
            "/api/translate", params={"model": model}, files={"image": ("n.png", png(noisy), "image/png")}
        )
        assert_error(response, 413, "limit")
        response = small.post(
            "/api/translate",
            params={"model": model},
            files={"image": ("w.png", png(np.zeros((70, 70), np.uint8)), "image/png")},
        )
        assert_error(response, 413, "pixels")


def test_game_round_answer_and_log(client, runs):
    import time

    model = model_id(runs, "dcgan")
    client.post("/api/game/reset", json={"model": model})
    dealt = client.post("/api/game/round", json={"model": model, "truncation": 0.8}).json()
    assert dealt["left"].startswith("data:image/png;base64,") and dealt["right"].startswith("data:image/png")
    # an instant answer is no judgement of the images: refused, and the round stays open
    assert_error(client.post("/api/game/answer", json={"round": dealt["round"], "choice": "left"}), 400, "faster")
    time.sleep(0.25)
    result = client.post("/api/game/answer", json={"round": dealt["round"], "choice": "left", "response_ms": 41})
    outcome = result.json()
    assert outcome["correct"] == (outcome["real_side"] == "left") and outcome["total"] == 1
    assert outcome["truncation"] == 0.8 and outcome["checkpoint"].startswith("checkpoint-")
    record = json.loads((runs / model.split("/", 1)[1] / "human_eval.jsonl").read_text().splitlines()[-1])
    assert record["response_ms"] >= 200  # timed by the server; the client's 41 ms is ignored
    assert_error(client.post("/api/game/answer", json={"round": dealt["round"], "choice": "left"}), 404, "unknown")
    assert_error(client.post("/api/game/answer", json={"round": "0123456789abcdef", "choice": "left"}), 404, "unknown")
    dealt = client.post("/api/game/round", json={"model": model}).json()
    assert_error(client.post("/api/game/answer", json={"round": dealt["round"], "choice": "middle"}), 400, "left")
    assert_error(client.post("/api/game/answer", json={"round": dealt["round"]}), 422, "choice")
    assert_error(client.post("/api/game/round", json={"model": model, "truncation": "high"}), 422, "truncation")
    assert_error(
        client.post("/api/game/round", content=b"{not json", headers={"content-type": "application/json"}), 422, ""
    )
    time.sleep(0.25)
    client.post("/api/game/answer", json={"round": dealt["round"], "choice": "right"})
    # one fool rate per (checkpoint, truncation), not pooled
    groups = client.get("/api/game/stats", params={"model": model}).json()["groups"]
    assert sorted((g["truncation"], g["total"]) for g in groups) == [(0.8, 1), (1.0, 1)]
    for group in groups:
        assert 0 <= group["low"] <= group["fool_rate"] <= group["high"] <= 1
    # reset: the log is archived (renamed, not deleted) and the stats start afresh
    archived = client.post("/api/game/reset", json={"model": model}).json()["archived"]
    assert archived.startswith(model + "/human_eval-") and (runs.parent / archived).is_file()
    assert client.get("/api/game/stats", params={"model": model}).json() == {"groups": []}


def test_runs_and_run_view(client, runs):
    listed = {r["id"]: r for r in client.get("/api/runs").json()}
    run = model_id(runs, "sg2")
    assert listed[run]["finished"] and listed[run]["model"] == "stylegan2"
    view = client.get("/api/run", params={"run": run}).json()
    assert view["stats"] and view["kimg"] == pytest.approx(view["total_kimg"])
    assert view["grid"].startswith(run + "/samples/")
    assert decoded(client.get(f"/api/files/{view['grid']}")).ndim == 3
    assert_error(client.get("/api/run", params={"run": run + "/samples"}), 404, "not a run folder")
    assert_error(client.get("/api/run", params={"run": "runs/nope"}), 404, "no such")


@pytest.mark.parametrize(
    "form, status, words",
    [
        ({"model": "dcgan"}, 400, "data is required"),
        ({"data": "shapes", "kimg": "lots"}, 400, "--kimg: expected a number"),
        ({"data": "shapes", "rm": "-rf"}, 400, "unknown field"),
        ({"data": "--resume"}, 403, "not a built-in set"),
        ({"data": ["shapes"]}, 400, "--data: expected a string"),
        ({"data": {"a": 1}}, 400, "--data: expected a string"),
        ({"data": "shapes", "kimg": 1e9}, 400, "over the studio's limit"),
        ({"data": "shapes", "kimg": -1}, 400, "--kimg"),
        ({"data": "shapes", "batch": 10**6}, 400, "--batch"),
        ({"data": "shapes", "resolution": 48}, 400, "power of two"),
        ({"data": "shapes", "model": "gpt"}, 400, "choose one of"),
        ({"data": "x" * 600}, 400, "over 500 characters"),
        ({"data": "/usr/share/pixmaps"}, 403, "--data-root"),
        ({"data": "shapes", "preset": ["x"]}, 400, "--preset"),
        ({"data": "shapes", "preset": "huge"}, 400, "--preset"),
    ],
)
def test_job_form_refused(client, form, status, words):
    assert_error(client.post("/api/jobs", json=form), status, words)
    assert client.get("/api/jobs").json() == []  # nothing was started


def test_job_unknown_and_body_type(client):
    assert_error(client.post("/api/jobs/deadbeef/stop"), 404, "no such job")
    assert_error(client.post("/api/jobs", json=[1, 2]), 422, "")


def test_oversized_body_refused_before_reading(client, runs):
    response = client.post(
        "/api/translate",
        params={"model": model_id(runs, "pix")},
        content=b"x" * 10,
        headers={"content-length": str(10**10), "content-type": "application/octet-stream"},
    )
    assert_error(response, 413, "limit")


def test_serve_has_no_pages_and_docs_exist(runs):
    with local_client(create_app([], runs, pages=False)) as api:
        assert api.get("/").status_code == 404
        assert api.get("/docs").status_code == 200
        assert "/api/generate" in api.get("/openapi.json").json()["paths"]
    with local_client(create_app([], runs)) as studio:
        assert "ganforge studio" in studio.get("/").text


def test_sources_outside_the_runs_folder(runs, tmp_path):
    run = runs / model_id(runs, "sg2").split("/", 1)[1]
    checkpoint = sorted(run.glob("checkpoint-*.pt"))[-1]
    with local_client(create_app([checkpoint], tmp_path / "empty-runs")) as single:
        (entry,) = single.get("/api/models").json()
        assert entry["id"] == checkpoint.name and entry["model"] == "stylegan2"
        assert decoded(single.get("/api/generate", params={"model": entry["id"]})).shape == (16, 16, 3)
        # the checkpoint's siblings are not readable: only the given file is a root
        assert single.get(f"/api/files/{checkpoint.name}/../samples/final.png").status_code in (403, 404)


def test_work_lane_drops_stale_and_refuses_floods():
    import time

    from ganforge.studio.errors import StudioError
    from ganforge.studio.model_cache import WorkLane

    async def scenario():
        lane = WorkLane(max_waiting=3)
        slow = asyncio.create_task(lane.run(lambda: time.sleep(0.3) or "slow", stream="a"))
        await asyncio.sleep(0.05)
        older = asyncio.create_task(lane.run(lambda: "older", stream="a"))
        await asyncio.sleep(0.01)
        newer = asyncio.create_task(lane.run(lambda: "newer", stream="a"))
        await asyncio.sleep(0.01)
        with pytest.raises(StudioError) as flood:
            await lane.run(lambda: "too many")
        results = await asyncio.gather(slow, older, newer, return_exceptions=True)
        return flood.value.status, results

    status, (slow, older, newer) = asyncio.run(scenario())
    assert status == 503
    assert slow == "slow" and newer == "newer"
    assert isinstance(older, Exception) and older.status == 409


def test_model_cache_is_bounded(runs):
    from ganforge.studio.model_cache import ModelCache

    cache = ModelCache(capacity=1)
    first = cache.get(runs / model_id(runs, "sg2").split("/", 1)[1])
    assert cache.get(runs / model_id(runs, "sg2").split("/", 1)[1]) is first
    cache.get(runs / model_id(runs, "dcgan").split("/", 1)[1])
    assert len(cache) == 1


def test_directions_and_edits(client, runs):
    model = model_id(runs, "sg2")
    found = client.get("/api/directions", params={"model": model, "method": "sefa", "num": 3}).json()
    assert found["names"] == ["sefa0", "sefa1", "sefa2"] and found["space"] == "w"
    plain = decoded(client.get("/api/generate", params={"model": model, "seed": 4, "truncation": 0.7}))
    unmoved = decoded(
        client.get("/api/edit", params={"model": model, "seed": 4, "truncation": 0.7, "num": 3, "strengths": "0,0,0"})
    )
    moved = decoded(
        client.get("/api/edit", params={"model": model, "seed": 4, "truncation": 0.7, "num": 3, "strengths": "0,3,0"})
    )
    assert np.abs(unmoved.astype(int) - plain).max() <= 1 and not np.array_equal(moved, unmoved)
    assert_error(client.get("/api/directions", params={"model": model, "method": "magic"}), 404, "unknown root")
    assert_error(client.get("/api/directions", params={"model": model, "method": "../x.npz"}), 403, "")
    assert_error(client.get("/api/directions", params={"model": model, "num": 0}), 422, "num")
    assert_error(client.get("/api/directions", params={"model": model_id(runs, "pix")}), 422, "image-to-image")
    for strengths in ("a,b", "1,2,3,4,5,6,7", "99"):
        assert_error(
            client.get("/api/edit", params={"model": model, "num": 3, "strengths": strengths}), 400, "strengths"
        )
    assert_error(
        client.get("/api/edit", params={"model": model, "strengths": "1", "projection": "nope"}),
        404,
        "no such projection",
    )


def test_directions_file_from_the_cli(client, runs):
    from ganforge.artifacts import load
    from ganforge.latent import find_directions, save_directions

    run = runs / model_id(runs, "dcgan").split("/", 1)[1]
    save_directions(run / "dirs.npz", find_directions(load(run), "sefa", 2))
    info = client.get("/api/model", params={"model": model_id(runs, "dcgan")}).json()
    assert info["direction_files"] == [f"{model_id(runs, 'dcgan')}/dirs.npz"]
    found = client.get(
        "/api/directions", params={"model": model_id(runs, "dcgan"), "method": info["direction_files"][0]}
    ).json()
    assert found["names"] == ["sefa0", "sefa1"]
    other = client.get("/api/directions", params={"model": model_id(runs, "sg2"), "method": info["direction_files"][0]})
    assert other.status_code == 422  # made for another model


def test_projection_lifecycle(client, runs):
    model = model_id(runs, "sg2")
    photo = png(np.full((24, 30, 3), 90, np.uint8))
    started = client.post(
        "/api/project", params={"model": model, "steps": 5}, files={"image": ("p.png", photo, "image/png")}
    ).json()
    import time

    deadline = time.monotonic() + 60
    while not (state := client.get(f"/api/project/{started['id']}").json())["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not state["error"] and state["step"] == 5 and "psnr" in state["scores"]
    assert decoded(client.get(f"/api/project/{started['id']}/image")).shape == (16, 16, 3)
    edited = client.get("/api/edit", params={"model": model, "strengths": "2", "projection": started["id"]})
    assert decoded(edited).shape == (16, 16, 3)
    wrong_model = client.get(
        "/api/edit", params={"model": model_id(runs, "dcgan"), "strengths": "2", "projection": started["id"]}
    )
    assert_error(wrong_model, 400, "another model")
    assert_error(client.get("/api/project/unknown"), 404, "no such projection")
    # the latent downloads as the latent.npz `ganforge edit --latent` reads
    from ganforge.artifacts import load
    from ganforge.latent.project import load_latent

    latent_file = client.get(f"/api/project/{started['id']}/latent")
    assert latent_file.status_code == 200
    path = runs.parent / "downloaded-latent.npz"
    path.write_bytes(latent_file.content)
    latent, space = load_latent(path, load(runs / model.split("/", 1)[1]))
    assert space == state["space"] and latent.numel() > 0
    # cancel: a long projection stops at its next step
    long = client.post(
        "/api/project", params={"model": model, "steps": 1000}, files={"image": ("p.png", photo, "image/png")}
    ).json()
    assert_error(client.get(f"/api/project/{long['id']}/latent"), 409, "not finished")
    client.post(f"/api/project/{long['id']}/cancel")
    deadline = time.monotonic() + 60
    while not (state := client.get(f"/api/project/{long['id']}").json())["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "cancelled" in state["error"] and state["step"] < 1000
    assert_error(
        client.post(
            "/api/project", params={"model": model, "steps": 0}, files={"image": ("p.png", photo, "image/png")}
        ),
        422,
        "steps",
    )
    assert_error(
        client.post("/api/project", params={"model": model}, files={"image": ("p.png", b"junk", "image/png")}),
        415,
        "image",
    )


def test_onnxruntime_backend_draws_the_same_images(client, runs):
    pytest.importorskip("onnxruntime")
    from ganforge.studio.app import create_app

    sketch = np.full((40, 24, 3), 255, np.uint8)
    sketch[5:30, 6] = 0
    with local_client(create_app([], runs, backend="onnxruntime")) as fast:
        cache = fast.app.state.studio.cache
        for name in ("sg2", "dcgan"):
            params = {"model": model_id(runs, name), "seed": 4, "truncation": 0.7}
            torch_image = decoded(client.get("/api/generate", params=params)).astype(int)
            onnx_image = decoded(fast.get("/api/generate", params=params)).astype(int)
            assert np.abs(onnx_image - torch_image).max() <= 1
        upload = {"image": ("s.png", png(sketch), "image/png")}
        pix = {"model": model_id(runs, "pix"), "fit": "false"}
        torch_out = decoded(client.post("/api/translate", params=pix, files=upload)).astype(int)
        onnx_out = decoded(fast.post("/api/translate", params=pix, files=upload)).astype(int)
        assert onnx_out.shape == (40, 24, 3) and np.abs(onnx_out - torch_out).max() <= 1
        assert type(cache.fast(runs / model_id(runs, "pix").split("/", 1)[1])).__name__ == "OnnxGenerator"
        round_ = fast.post("/api/game/round", json={"model": model_id(runs, "dcgan")}).json()
        assert round_["left"].startswith("data:image/png") and round_["right"].startswith("data:image/png")
        # endpoints that need autograd or PyTorch internals keep working on the PyTorch generator
        random_noise = fast.get("/api/generate", params={"model": model_id(runs, "sg2"), "seed": 4, "noise": "random"})
        assert random_noise.status_code == 200
        mix = fast.get("/api/mix", params={"model": model_id(runs, "sg2"), "rows": "1", "cols": "2"})
        assert mix.status_code == 200


def test_bad_backend_refused(runs):
    from ganforge.studio.app import create_app
    from ganforge.studio.errors import StudioError

    with pytest.raises(StudioError, match="--backend tensorrt"):
        create_app([], runs, backend="tensorrt")
    with pytest.raises(StudioError, match="runs on the CPU"):
        create_app([], runs, backend="onnxruntime", device="cuda")


def test_run_states_resume_delete_and_jobs_after_a_restart(runs, tmp_path, monkeypatch):
    import shutil
    import subprocess

    own = tmp_path / "runs"
    shutil.copytree(runs / model_id(runs, "dcgan").split("/", 1)[1], own / "00000-dcgan")
    shutil.copytree(runs / model_id(runs, "sg2").split("/", 1)[1], own / "00001-sg2")
    spawned = []

    class FakeProcess:  # stands in for `ganforge train`: records the command, "exits" when waited for
        def __init__(self, command, **options):
            spawned.append(command)

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    with local_client(create_app([], own)) as client:
        states = {r["id"]: r["state"] for r in client.get("/api/runs").json()}
        assert states == {"runs/00000-dcgan": "finished", "runs/00001-sg2": "finished"}
        (own / "00001-sg2" / ".lock").write_text("host 1")
        assert client.get("/api/run", params={"run": "runs/00001-sg2"}).json()["state"] == "training"
        assert_error(client.request("DELETE", "/api/run", params={"run": "runs/00001-sg2"}), 409, "stop it first")
        job = client.post("/api/jobs/resume", json={"run": "runs/00000-dcgan", "kimg": 0.05}).json()
        assert job["run"] == "runs/00000-dcgan" and f"--resume={own / '00000-dcgan'}" in spawned[-1]
        assert "--kimg=0.05" in spawned[-1]
        assert_error(client.post("/api/jobs/resume", json={"run": "runs/00000-dcgan", "batch": 8}), 400, "only kimg")
        assert_error(client.post("/api/jobs/resume", json={"run": "runs/00000-dcgan", "kimg": -1}), 400, "--kimg")
        assert_error(client.post("/api/jobs/resume", json={"run": "/etc"}), 403, "only paths inside")
        assert_error(client.post("/api/jobs/resume", json={"run": "runs/00000-dcgan/samples"}), 400, "run folder")
        client.post("/api/jobs", json={"data": "shapes", "kimg": 1, "name": "fresh"})
    with local_client(create_app([], own)) as restarted:  # the job list is read back from the runs folder
        jobs = {j["name"].rsplit("-", 1)[0]: j for j in restarted.get("/api/jobs").json()}
        assert set(jobs) == {"dcgan", "fresh"} and jobs["dcgan"]["run"] == "runs/00000-dcgan"
        assert jobs["dcgan"]["state"] == "finished"
        assert restarted.request("DELETE", "/api/run", params={"run": "runs/00000-dcgan"}).json()["deleted"]
        assert not (own / "00000-dcgan").exists()
        assert_error(restarted.request("DELETE", "/api/run", params={"run": "runs"}), 400, "run folder")
