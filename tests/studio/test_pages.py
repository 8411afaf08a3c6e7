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
    data = page.evaluate("""async (selector) => {
        const img = document.querySelector(selector);
        const blob = await (await fetch(img.src)).blob();
        return Array.from(new Uint8Array(await blob.arrayBuffer()));
    }""", selector)
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
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)


def test_sketch_strokes_get_translated(page, runs, tmp_path):
    page.goto("/#sketch")
    page.select_option("#sketch-model", model_id(runs, "pix"))
    page.wait_for_function("document.querySelector('#sketch-output').dataset.version >= '1'")
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
        page.wait_for_function("document.querySelector('#game-verdict').textContent === ''")
        page.wait_for_function("document.querySelector('#game-left img').src.startsWith('data:image/png')")
        if number % 2:
            page.click("#game-left")
        else:  # the keyboard works too (focus is on the button just clicked)
            page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.querySelector('#game-rounds').textContent === '{number}'")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) - before == 5
    for record in lines[before:]:
        assert record["model"] == model
        assert {"kimg", "truncation", "seed", "real_file", "answer", "response_ms", "fooled"} <= set(record)
        assert record["answer"] in ("left", "right") and record["response_ms"] >= 0
        assert record["real_file"].startswith("photo") and record["real_file"].endswith(".png")
    assert "Fool rate" in page.text_content("#game-foolrate")
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
    page.wait_for_selector("#train-jobs li button:text('View')", timeout=60_000)
    page.click("#train-jobs li button:text('View')")
    page.wait_for_function("document.querySelector('#train-facts').textContent.includes('img/s') && "
                           "!document.querySelector('#train-facts').textContent.startsWith('0 /')", timeout=60_000)
    page.wait_for_selector("#train-grid[src*='samples']", timeout=60_000)
    page.click("#train-jobs li button:text('Stop')")
    page.wait_for_function("['stopped'].includes(document.querySelector('#train-jobs li').dataset.state)",
                           timeout=60_000)
    assert any(p.name.endswith("fromthepage-" + page.get_attribute("#train-jobs li", "data-job"))
               for p in runs.iterdir())
    page.screenshot(path=str(tmp_path / "train.png"), full_page=True)


def test_train_shows_a_crashed_run_error(page):
    page.goto("/#train")
    page.fill('input[name="data"]', "no-such-dataset-folder")
    page.fill('input[name="name"]', "crash")
    page.click('#train-form button[type="submit"]')
    page.wait_for_selector("#train-jobs li[data-state='failed'] pre", timeout=60_000)
    assert "no-such-dataset-folder" in page.text_content("#train-jobs li[data-state='failed'] pre")


def test_project_then_edit(page, runs, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (200, 40, 40)).save(photo)
    page.goto("/#project")
    page.select_option("#project-model", model_id(runs, "sg2"))
    page.fill("#project-steps", "20")
    page.set_input_files("#project-upload", str(photo))
    page.wait_for_function("document.querySelector('#project-caption').textContent.includes('step 20 / 20')",
                           timeout=60_000)
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
