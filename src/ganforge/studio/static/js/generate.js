// Generate / Explore: a seed's image under truncation, class and noise, updated while sliders move; interpolation
// between two seeds; a style-mixing grid; direction sliders for style-based models.
import { LiveImage, fetchBlob, fillModels, getJSON, query, showError } from "./common.js";
import { DirectionSliders } from "./directions.js";

const $ = (id) => document.getElementById(id);
let info = null;
let main, between, directions;

function common() {
  const params = { model: $("gen-model").value, truncation: $("gen-truncation").value };
  if (info && info.classes.length) params.class_index = $("gen-class").value;
  return params;
}

export function render() {
  if (!info) return;
  $("gen-truncation-value").textContent = Number($("gen-truncation").value).toFixed(2);
  const params = { ...common(), seed: $("gen-seed").value, noise: info.has_styles ? $("gen-noise").value : null };
  const edits = directions.current();
  if (edits) {
    main.request((stream) => fetchBlob("/api/edit?" + query({ ...params, ...edits, stream })));
  } else {
    main.request((stream) => fetchBlob("/api/generate?" + query({ ...params, stream })));
  }
  $("gen-caption").textContent = `seed ${params.seed}, ψ ${params.truncation}`;
}

function renderBetween() {
  if (!info) return;
  const params = { ...common(), a: $("interp-a").value, b: $("interp-b").value, t: $("interp-t").value };
  between.request((stream) => fetchBlob("/api/interpolate?" + query({ ...params, stream })));
}

async function renderMix() {
  try {
    const blob = await fetchBlob("/api/mix?" + query({ ...common(), rows: $("mix-rows").value, cols: $("mix-cols").value }));
    $("mix-image").src = URL.createObjectURL(blob);
  } catch (error) { showError(error.message); }
}

async function pickModel() {
  if (!$("gen-model").value) return;
  info = await getJSON("/api/model?" + query({ model: $("gen-model").value }));
  $("gen-class-label").hidden = !info.classes.length;
  $("gen-class").replaceChildren(...info.classes.map((name, i) => new Option(name, i)));
  $("gen-noise-label").hidden = !info.has_styles;
  $("gen-mix-panel").hidden = !info.has_styles;
  $("gen-directions-panel").hidden = !(await directions.setup(info));
  render();
  renderBetween();
  if (info.has_styles) renderMix();
}

export async function init() {
  main = new LiveImage($("gen-image"), (url) => {
    $("gen-download").href = url;
    $("gen-download").download = `seed-${$("gen-seed").value}.png`;
  });
  between = new LiveImage($("interp-image"));
  directions = new DirectionSliders($("gen-directions"), $("gen-direction-method"), render);
  $("gen-directions-reset").addEventListener("click", () => directions.reset());
  for (const id of ["gen-seed", "gen-truncation", "gen-class", "gen-noise"]) {
    $(id).addEventListener("input", render);
  }
  for (const id of ["interp-a", "interp-b", "interp-t"]) $(id).addEventListener("input", renderBetween);
  $("gen-truncation").addEventListener("input", renderBetween);
  $("gen-random").addEventListener("click", () => { $("gen-seed").value = Math.floor(Math.random() * 100000); render(); });
  $("mix-go").addEventListener("click", renderMix);
  $("gen-model").addEventListener("change", () => pickModel().catch((e) => showError(e.message)));
  await fillModels($("gen-model"), false);
  await pickModel();
}
