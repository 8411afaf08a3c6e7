// Generate / Explore: a seed's image under truncation, class and noise, updated while sliders move; interpolation
// between two seeds; a labelled style-mixing grid; direction sliders for style-based models. Each panel shows its own
// errors; a caption changes only when its image has arrived.
import { LiveImage, fetchBlob, fillModels, getJSON, query, showError } from "./common.js";
import { DirectionSliders } from "./directions.js";

const $ = (id) => document.getElementById(id);
let info = null;
let main, between, mixer, directions;

function common() {
  const params = { model: $("gen-model").value, truncation: $("gen-truncation").value };
  if (info && info.classes.length) params.class_index = $("gen-class").value;
  return params;
}

// A seed field's value, or null (and an error in `panel`) when it is not a whole number; the server checks its range
// (limits.SEED) and a seed beyond it comes back as the request's error.
function seedOf(input, panel) {
  const text = input.value.trim();
  if (!/^\d+$/.test(text)) {
    showError(`${input.labels[0]?.textContent.trim() || "Seed"}: enter a whole number (0 or more)`, panel);
    return null;
  }
  return text;
}

export function render() {
  if (!info) return;
  $("gen-truncation-value").textContent = Number($("gen-truncation").value).toFixed(2);
  const seed = seedOf($("gen-seed"), $("gen-image").closest("figure"));
  if (seed === null) return;
  const params = { ...common(), seed, noise: info.has_styles ? $("gen-noise").value : null };
  const edits = directions.current();
  const caption = `seed ${seed}, ψ ${Number(params.truncation).toFixed(2)}${edits ? ", edited" : ""}`;
  const url = edits ? "/api/edit?" + query({ ...params, ...edits }) : "/api/generate?" + query(params);
  main.request((stream) => fetchBlob(`${url}&stream=${stream}`), caption);
}

function renderBetween() {
  if (!info || info.paired) return;
  const panel = $("gen-interp-panel");
  const a = seedOf($("interp-a"), panel), b = seedOf($("interp-b"), panel);
  if (a === null || b === null) return;
  const params = { ...common(), a, b, t: $("interp-t").value };
  between.request((stream) => fetchBlob("/api/interpolate?" + query({ ...params, stream })),
                  `seed ${a} → ${b}, t = ${Number(params.t).toFixed(2)}`);
}

function seedList(text) { return text.split(",").map((s) => s.trim()).filter(Boolean); }

function renderMix() {
  const rows = seedList($("mix-rows").value), cols = seedList($("mix-cols").value);
  mixer.request((stream) => fetchBlob("/api/mix?" + query({ ...common(), rows: rows.join(","), cols: cols.join(","),
                                                             stream })), { rows, cols });
}

// Seed labels around the grid (the grid's first row and column are the source images).
function labelMix(url, blob, { rows, cols }) {
  $("mix-download").href = url;
  const grid = $("mix-grid");
  grid.style.setProperty("--cols", cols.length + 1);
  grid.style.setProperty("--rows", rows.length + 1);
  grid.querySelectorAll(".mix-label").forEach((label) => label.remove());
  const label = (text, kind, index) => Object.assign(document.createElement("span"), {
    className: `mix-label ${kind}`, textContent: text, style: `--i: ${index + 1}` });
  grid.append(...cols.map((seed, i) => label(`seed ${seed}`, "col", i)), ...rows.map((seed, i) => label(`seed ${seed}`, "row", i)));
}

async function pickModel() {
  info = null;
  if (!$("gen-model").value) return;
  const picked = await getJSON("/api/model?" + query({ model: $("gen-model").value }));
  if (picked.id !== $("gen-model").value) return;  // another model was picked meanwhile: its own call goes on
  info = picked;
  $("gen-class-label").hidden = !picked.classes.length;
  $("gen-class").replaceChildren(...picked.classes.map((name, i) => new Option(name, i)));
  $("gen-noise-label").hidden = !picked.has_styles;
  $("gen-mix-panel").hidden = !picked.has_styles;
  const steerable = await directions.setup(picked);
  if (info !== picked) return;
  $("gen-directions-panel").hidden = !steerable;
  render();
  renderBetween();
  if (picked.has_styles) renderMix();
}

export async function init() {
  main = new LiveImage($("gen-image"), (url, blob, caption) => {
    $("gen-download").href = url;
    $("gen-download").download = `${caption.replace(/[^\w.-]+/g, "-")}.png`;
    $("gen-caption").textContent = caption;
  });
  between = new LiveImage($("interp-image"), (url, blob, caption) => {
    $("interp-download").href = url;
    $("interp-caption").textContent = caption;
  }, $("gen-interp-panel"));
  mixer = new LiveImage($("mix-image"), labelMix, $("gen-mix-panel"));
  directions = new DirectionSliders($("gen-directions"), $("gen-direction-method"), render);
  $("gen-directions-reset").addEventListener("click", () => directions.reset());
  for (const id of ["gen-seed", "gen-truncation", "gen-class", "gen-noise"]) $(id).addEventListener("input", render);
  for (const id of ["interp-a", "interp-b", "interp-t"]) $(id).addEventListener("input", renderBetween);
  $("gen-truncation").addEventListener("input", renderBetween);
  $("gen-random").addEventListener("click", () => { $("gen-seed").value = Math.floor(Math.random() * 100000); render(); });
  $("mix-go").addEventListener("click", renderMix);
  $("gen-model").addEventListener("change", () => pickModel().catch((e) => showError(e.message, $("page-generate"))));
  const usable = await fillModels($("gen-model"), false, $("gen-empty"));
  $("page-generate").toggleAttribute("data-empty", !usable.length);
  await pickModel();
}
