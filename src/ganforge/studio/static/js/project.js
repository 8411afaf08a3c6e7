// Project / edit: upload a photo (shown as the centre square the model is fitted to), watch the model's latent
// being fitted to it, then move the result along attribute directions; download the result.
import { LiveImage, busy, fetchBlob, fillModels, getJSON, postJSON, query, showError } from "./common.js";
import { DirectionSliders } from "./directions.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 300;
let projection = null;
let output, directions;

function renderEdit() {
  if (!projection) return;
  const edits = directions.current() || { method: $("project-direction-method").value, num: 6, strengths: "0" };
  output.request((stream) => fetchBlob("/api/edit?" + query({ model: $("project-model").value, projection,
                                                               ...edits, stream })));
  $("project-download").hidden = false;
}

async function follow(id) {
  const state = await getJSON(`/api/project/${id}`);
  if (state.step > 0) {
    $("project-image").src = URL.createObjectURL(await fetchBlob(`/api/project/${id}/image?t=${state.step}`));
  }
  const scores = Object.entries(state.scores).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ");
  $("project-caption").textContent = state.error || `step ${state.step} / ${state.steps}${scores ? " — " + scores : ""}`;
  if (state.error) { $("project-cancel").hidden = true; showError(state.error, $("page-project")); return; }
  if (!state.done) {
    setTimeout(() => busy($("project-image").closest("figure"), follow(id)).catch((e) => showError(e.message, $("page-project"))), POLL_MS);
    return;
  }
  $("project-cancel").hidden = true;
  $("project-download").href = $("project-image").src;
  $("project-download").hidden = false;
  $("project-latent").href = `/api/project/${id}/latent`;
  $("project-latent").hidden = false;
  projection = id;
  const info = await getJSON("/api/model?" + query({ model: $("project-model").value }));
  $("project-edit").hidden = !(await directions.setup(info));
}

async function start() {
  const file = $("project-upload").files[0];
  if (!file || !$("project-model").value) return;
  projection = null;
  $("project-edit").hidden = true;
  $("project-download").hidden = $("project-latent").hidden = true;
  $("project-target").src = URL.createObjectURL(file);
  const body = new FormData();
  body.append("image", file, file.name);
  const response = await fetch("/api/project?" + query({ model: $("project-model").value,
                                                        steps: $("project-steps").value }), { method: "POST", body });
  const state = await response.json();
  if (!response.ok) throw new Error(state.error);
  $("project-cancel").hidden = false;
  $("project-cancel").onclick = () => postJSON(`/api/project/${state.id}/cancel`, {});
  await follow(state.id);
}

export async function init() {
  output = new LiveImage($("project-image"), (url) => { $("project-download").href = url; });
  directions = new DirectionSliders($("project-directions"), $("project-direction-method"), renderEdit);
  $("project-upload").addEventListener("change", () => start().then(() => showError("", $("page-project")),
    (e) => showError(e.message, $("page-project"))));
  const usable = await fillModels($("project-model"), false, $("project-empty"));
  $("page-project").toggleAttribute("data-empty", !usable.length);
}
