"""Each studio page's main interaction end to end in headless Chromium on tiny checkpoints trained in the session:
the truncation slider changes the image, strokes on the canvas come back translated, five rounds of the game leave
five lines in human_eval.jsonl, and a training run starts and stops from the Train page."""

from __future__ import annotations

import json

import pytest

from .conftest import model_id

pytestmark = pytest.mark.slow


def _image_bytes(page, selector: str) -> bytes:
    """The current picture of an <img> as PNG bytes, read through the page (blob: URLs included)."""
    data = page.evaluate(
        """async (selector) => {
        const img = document.querySelector(selector);
        const blob = await (await fetch(img.src)).blob();
        return Array.from(new Uint8Array(await blob.arrayBuffer()));
    }""",
        selector,
    )
    return bytes(data)


def test_generate_truncation_slider_changes_image(page, runs, tmp_path):
    page.goto("/#generate")
    page.select_option("#gen-model", model_id(runs, "sg2"))
    page.wait_for_function("document.querySelector('#gen-image').dataset.version >= '1'")
    page.fill("#gen-seed", "7")
    page.dispatch_event("#gen-seed", "input")
    page.wait_for_function("document.querySelector('#gen-caption').textContent.includes('seed 7')")
    page.wait_for_load_state("networkidle")
    before = _image_bytes(page, "#gen-image")
    version = page.eval_on_selector("#gen-image", "img => Number(img.dataset.version)")
    slider = page.locator("#gen-truncation")
    slider.focus()
    for _ in range(60):  # drag the slider down with the keyboard: many input events, one image per free moment
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"Number(document.querySelector('#gen-image').dataset.version) > {version}")
    page.wait_for_load_state("networkidle")
    assert page.input_value("#gen-truncation") == "0.4"
    after = _image_bytes(page, "#gen-image")
    assert after != before
    assert page.get_attribute("#gen-download", "href").startswith("blob:")
    # a SeFa direction slider edits the image too
    page.wait_for_selector("#gen-directions input[type=range]")
    version = page.eval_on_selector("#gen-image", "img => Number(img.dataset.version)")
    page.locator("#gen-directions input[type=range]").first.focus()
    for _ in range(25):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"Number(document.querySelector('#gen-image').dataset.version) > {version}")
    page.wait_for_load_state("networkidle")
    assert _image_bytes(page, "#gen-image") != after
    # an empty seed is an error in the image's panel; the caption keeps describing the image on screen
    caption = page.text_content("#gen-caption")
    page.fill("#gen-seed", "")
    page.dispatch_event("#gen-seed", "input")
    page.wait_for_selector("#gen-image ~ .panel-error:not([hidden]), figure > .panel-error:not([hidden])")
    assert "Seed" in page.text_content("figure > .panel-error") and page.text_content("#gen-caption") == caption
    page.fill("#gen-seed", "8")
    page.dispatch_event("#gen-seed", "input")
    page.wait_for_selector("#gen-caption:has-text('seed 8')")
    assert page.locator("figure > .panel-error:not([hidden])").count() == 0  # fixed: the error is gone
    # the style-mixing grid carries its seeds as labels and can be downloaded
    page.wait_for_selector("#mix-grid .mix-label.col")
    assert page.locator("#mix-grid .mix-label.col").all_text_contents() == ["seed 4", "seed 5", "seed 6"]
    assert page.locator("#mix-grid .mix-label.row").all_text_contents() == ["seed 1", "seed 2", "seed 3"]
    assert page.get_attribute("#mix-download", "href").startswith("blob:")
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)


def test_first_visit_picks_a_usable_model_or_shows_what_to_do(page, runs):
    listed = page.context.request.get("/api/models").json()
    unready = {"id": "runs/99999-starting", "name": "99999-starting", "model": "dcgan", "ready": False, "paired": False}
    page.route("**/api/models", lambda route: route.fulfill(json=[unready, *listed]))
    page.goto("/#generate")
    page.wait_for_function("document.querySelector('#gen-image').dataset.version >= '1'")
    assert page.input_value("#gen-model") != unready["id"]  # the newest run has no checkpoint: not chosen
    assert page.locator("#gen-model option[disabled]").count() == 1
    assert page.locator(".panel-error:not([hidden])").count() == 0
    page.unroute("**/api/models")
    page.route("**/api/models", lambda route: route.fulfill(json=[unready]))
    page.goto("/#game")
    page.wait_for_selector("#game-empty:not([hidden])")
    assert "Train" in page.text_content("#game-empty") and not page.is_visible("#game-left")


def test_sketch_strokes_get_translated(page, runs, tmp_path):
    page.goto("/#sketch")
    page.select_option("#sketch-model", model_id(runs, "pix"))
    page.wait_for_function("document.querySelector('#sketch-output').dataset.version >= '1'")
    page.wait_for_selector("#sketch-canvas[data-model-resolution='16']")
    assert page.input_value("#sketch-size") == "24"  # the pen follows the 16 px model: 1.5 model pixels wide
    page.wait_for_load_state("networkidle")
    blank = _image_bytes(page, "#sketch-output")
    box = page.locator("#sketch-canvas").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 20):
        page.mouse.move(box["x"] + 40 + step * 9, box["y"] + 40 + step * 5)
    page.mouse.up()
    page.click('input[value="pen"]')
    page.mouse.move(box["x"] + 200, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 220, steps=10)
    page.mouse.up()
    page.wait_for_load_state("networkidle")
    drawn = page.evaluate("""() => { const c = document.querySelector('#sketch-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++; return dark; }""")
    assert drawn > 500  # the strokes are on the canvas
    translated = _image_bytes(page, "#sketch-output")
    assert translated != blank
    # a photo upload is translated at its own size (tiled)
    from PIL import Image

    Image.new("RGB", (40, 30), "white").save(tmp_path / "photo.png")
    version = page.eval_on_selector("#sketch-output", "img => Number(img.dataset.version)")
    page.set_input_files("#sketch-upload", str(tmp_path / "photo.png"))
    page.wait_for_function(f"Number(document.querySelector('#sketch-output').dataset.version) > {version}")
    page.wait_for_function("document.querySelector('#sketch-output').naturalWidth === 40")
    assert page.eval_on_selector("#sketch-output", "img => img.naturalHeight") == 30
    assert page.is_visible("#sketch-photo")  # the photo is shown beside its translation, neither squashed
    for image in ("#sketch-photo", "#sketch-output"):
        box = page.locator(image).bounding_box()
        assert abs(box["width"] / box["height"] - 40 / 30) < 0.05, (image, box)
    page.click("#sketch-undo")
    page.click("#sketch-example")
    page.wait_for_function("document.querySelector('#sketch-caption').textContent.includes('example')")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp_path / "sketch.png"), full_page=True)


def test_game_five_rounds_logged(page, runs, tmp_path):
    model = model_id(runs, "dcgan")
    log = runs / model.split("/", 1)[1] / "human_eval.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    page.goto("/#game")
    page.select_option("#game-model", model)
    for number in range(1, 6):
        page.wait_for_selector("#game-left:not([disabled])")  # both images on screen, the round open
        with page.expect_response("**/api/game/answer") as answered:
            if number % 2:
                page.click("#game-left")
            else:  # the keyboard works too (focus is on the button just clicked)
                page.keyboard.press("ArrowRight")
        assert answered.value.status == 200, answered.value.text()
        page.wait_for_selector(f"#game-rounds:text-is('{number}')")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) - before == 5
    for record in lines[before:]:
        assert record["model"] == model and record["checkpoint"].startswith("checkpoint-")
        assert {"kimg", "truncation", "seed", "real_file", "answer", "response_ms", "fooled"} <= set(record)
        assert record["answer"] in ("left", "right") and record["response_ms"] >= 200  # timed by the server
        assert record["real_file"].startswith("photo") and record["real_file"].endswith(".png")
    page.wait_for_selector("#game-foolrate .rate")
    assert "Fool rate" in page.text_content("#game-foolrate") and "ψ 1" in page.text_content("#game-foolrate")
    page.screenshot(path=str(tmp_path / "game.png"), full_page=True)


def test_train_start_and_stop(page, runs, tmp_path):
    page.goto("/#train")
    page.wait_for_selector("#train-runs li")
    page.fill('input[name="data"]', str(runs.parent / "photos"))
    page.select_option('select[name="model"]', "dcgan")
    page.fill('input[name="kimg"]', "50")
    page.fill('input[name="resolution"]', "16")
    page.fill('input[name="batch"]', "8")
    page.fill('input[name="snapshot_kimg"]', "0.016")
    page.fill('input[name="name"]', "fromthepage")
    page.click('#train-form button[type="submit"]')
    job = page.locator("#train-jobs li").first
    job.wait_for()
    assert job.get_attribute("data-state") == "running"
    # the live view: the new run appears in the list, and its first stats row arrives
    page.wait_for_selector("#train-jobs li button:text('View')")
    page.click("#train-jobs li button:text('View')")
    page.wait_for_selector("#train-view[data-state='training']")
    page.wait_for_function(
        "document.querySelector('#train-facts').textContent.includes('img/s') && "
        "!document.querySelector('#train-facts').textContent.includes('· 0 / ')"
    )
    page.wait_for_selector("#train-grid[src*='samples']")
    page.click("#train-jobs li button:text('Stop')")
    page.wait_for_selector("#train-jobs li[data-state='stopped']")
    # stopped before --kimg: the run says so (no ✓), and offers Resume and Delete
    page.wait_for_selector("#train-view[data-state='stopped']")
    assert "stopped early" in page.text_content("#train-facts") and "✓" not in page.text_content("#train-facts")
    assert page.is_visible("#train-resume") and page.is_visible("#train-delete")
    run = next(
        p for p in runs.iterdir() if p.name.endswith("fromthepage-" + page.get_attribute("#train-jobs li", "data-job"))
    )
    # SIGTERM stops `ganforge train` cleanly: final samples, a checkpoint, and the run lock released
    assert (run / "samples" / "final.png").exists() and list(run.glob("checkpoint-*.pt"))
    assert not (run / ".lock").exists()
    page.screenshot(path=str(tmp_path / "train.png"), full_page=True)


def test_train_refuses_bad_data_and_shows_a_crashed_run_error(page, runs, tmp_path):
    page.goto("/#train")
    page.wait_for_selector("#train-data-choices option[value='shapes']", state="attached")  # the data picker
    jobs_before = len(page.context.request.get("/api/jobs").json())
    page.fill('input[name="data"]', "/usr/share/pixmaps")
    page.click('#train-form button[type="submit"]')
    page.wait_for_selector("#train-form > .panel-error:not([hidden])")
    assert "--data-root" in page.text_content("#train-form > .panel-error")
    assert len(page.context.request.get("/api/jobs").json()) == jobs_before  # refused before any process started
    empty = runs.parent / "no-images"
    empty.mkdir(exist_ok=True)
    (empty / "notes.txt").write_text("not an image")
    page.fill('input[name="data"]', str(empty))
    page.fill('input[name="name"]', "crash")
    page.click('#train-form button[type="submit"]')
    page.wait_for_selector("#train-form > .panel-error[hidden]", state="attached")  # a success clears it
    page.wait_for_selector("#train-jobs li[data-state='failed'] pre")
    text = page.text_content("#train-jobs li[data-state='failed'] pre")
    assert "no-images" in text and str(runs.parent) not in text  # paths relative to the studio's folders


def test_project_then_edit(page, runs, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (200, 40, 40)).save(photo)
    page.goto("/#project")
    page.select_option("#project-model", model_id(runs, "sg2"))
    page.fill("#project-steps", "20")
    page.set_input_files("#project-upload", str(photo))
    page.wait_for_function("document.querySelector('#project-caption').textContent.includes('step 20 / 20')")
    page.wait_for_selector("#project-edit:not([hidden]) input[type=range]")
    projected = _image_bytes(page, "#project-image")
    slider = page.locator("#project-directions input[type=range]").first
    slider.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("Number(document.querySelector('#project-image').dataset.version) >= 1")
    page.wait_for_load_state("networkidle")
    assert _image_bytes(page, "#project-image") != projected
    page.screenshot(path=str(tmp_path / "project.png"), full_page=True)
