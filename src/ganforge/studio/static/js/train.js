// Train: every run under the runs folder (also ones started elsewhere) with its state (training, finished, stopped
// early, incomplete), a live view of the selected one (newest grid, loss curves, kimg, img/s, ETA, metrics,
// augmentation p, growth stage) with Resume and Delete, and training started from a form as a separate process,
// with a Stop button and the error output of a crashed run. The job list comes from the runs folder, so it
// survives a studio restart.
import { getJSON, postJSON, query, showError } from "./common.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1500;
const COLORS = ["#2b63d9", "#d9482b", "#1a7f37", "#9b4dca", "#c98a00"];
let selected = null;
let timer = null;
let lastGrid = "";
let current = null;  // the selected run's summary
const STATE_TEXT = { training: "training", finished: "finished ✓", stopped: "stopped early", incomplete: "incomplete" };

function formatSeconds(s) {
  if (!s) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

function drawChart(rows) {
  const canvas = $("train-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k.startsWith("loss"));
  if (!rows.length || !keys.length) return;
  const xs = rows.map((r) => r.kimg);
  const values = rows.flatMap((r) => keys.map((k) => r[k]).filter((v) => Number.isFinite(v)));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(...values), Math.max(...values)];
  const pad = 30, w = canvas.width - 2 * pad, h = canvas.height - 2 * pad;
  const X = (x) => pad + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * w;
  const Y = (y) => pad + (y1 > y0 ? 1 - (y - y0) / (y1 - y0) : 0.5) * h;
  ctx.strokeStyle = "#aab2bd";
  ctx.strokeRect(pad, pad, w, h);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#5c6470";
  ctx.fillText(y1.toFixed(2), 2, pad + 4);
  ctx.fillText(y0.toFixed(2), 2, pad + h);
  ctx.fillText(`${x0} kimg`, pad, canvas.height - 8);
  ctx.fillText(`${x1} kimg`, pad + w - 50, canvas.height - 8);
  keys.forEach((key, i) => {
    ctx.strokeStyle = ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.beginPath();
    rows.forEach((row, j) => { if (Number.isFinite(row[key])) ctx[j ? "lineTo" : "moveTo"](X(row.kimg), Y(row[key])); });
    ctx.stroke();
    ctx.fillText(key, pad + 6 + i * 90, pad - 8);
  });
}

function metricsTable(rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const table = $("train-metrics");
  table.replaceChildren();
  if (!rows.length) return;
  const head = table.insertRow();
  keys.forEach((k) => { const th = document.createElement("th"); th.textContent = k; head.append(th); });
  rows.slice(-10).forEach((row) => {
    const tr = table.insertRow();
    keys.forEach((k) => { tr.insertCell().textContent = row[k] ?? ""; });
  });
}

async function showRun() {
  if (!selected) { $("train-view").hidden = true; return; }
  const run = current = await getJSON("/api/run?" + query({ run: selected }));
  $("train-view").hidden = false;
  $("train-view").dataset.state = run.state;
  $("train-resume").hidden = run.state === "training";
  const more = Number(new FormData($("train-form")).get("kimg"));
  $("train-resume").textContent = run.state === "finished" ? `Resume to ${more > run.total_kimg ? more : "?"} kimg`
                                                            : "Resume";
  $("train-resume").disabled = run.state === "finished" && !(more > run.total_kimg);
  $("train-delete").hidden = run.state === "training";
  $("train-title").textContent = `${run.name} — ${run.model} on ${run.data}, ${run.resolution} px`;
  $("train-progress").value = run.total_kimg ? run.kimg / run.total_kimg : 0;
  const extras = Object.entries(run.last).filter(([k]) => !k.startsWith("loss") && !["kimg", "img_per_s"].includes(k))
    .map(([k, v]) => `${k} ${v}`);
  $("train-facts").textContent = [STATE_TEXT[run.state] || run.state, `${run.kimg} / ${run.total_kimg} kimg`,
    `${run.img_per_s} img/s`, `ETA ${run.state === "training" ? formatSeconds(run.eta_s) : "–"}`,
    `last update ${run.updated_s_ago === null ? "–" : formatSeconds(run.updated_s_ago) + " ago"}`,
    `${run.checkpoints} checkpoint(s)`, ...extras].join(" · ");
  if (run.grid && run.grid !== lastGrid) {
    lastGrid = run.grid;
    $("train-grid").src = `/api/files/${run.grid}?t=${Date.now()}`;
  }
  drawChart(run.stats);
  metricsTable(run.metrics);
}

function listRuns(runs) {
  const list = $("train-runs");
  list.replaceChildren(...runs.map((run) => {
    const item = document.createElement("li");
    item.classList.toggle("selected", run.id === selected);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = run.name;
    button.addEventListener("click", () => { selected = run.id; lastGrid = ""; poll(); });
    const state = Object.assign(document.createElement("span"), { className: `state-${run.state}`,
                                                                   textContent: STATE_TEXT[run.state] || run.state });
    item.dataset.state = run.state;
    item.append(button, `${run.kimg} / ${run.total_kimg} kimg`, state);
    return item;
  }));
}

function listJobs(jobs) {
  $("train-jobs").replaceChildren(...jobs.map((job) => {
    const item = document.createElement("li");
    item.dataset.job = job.id;
    item.dataset.state = job.state;
    const label = document.createElement("span");
    label.className = `state-${job.state}`;
    label.textContent = `${job.name}: ${job.state}`;
    item.append(label);
    if (job.state === "running") {
      const stop = document.createElement("button");
      stop.type = "button";
      stop.textContent = "Stop";
      stop.addEventListener("click", () => postJSON(`/api/jobs/${job.id}/stop`, {}).then(poll,
        (e) => showError(e.message, $("train-form"))));
      item.append(stop);
    }
    if (job.run) {
      const view = document.createElement("button");
      view.type = "button";
      view.textContent = "View";
      view.addEventListener("click", () => { selected = job.run; lastGrid = ""; poll(); });
      item.append(view);
    }
    if (job.error) {
      const pre = document.createElement("pre");
      pre.textContent = job.error;
      item.append(pre);
    }
    return item;
  }));
}

async function poll() {
  clearTimeout(timer);
  try {
    const [runs, jobs] = await Promise.all([getJSON("/api/runs"), getJSON("/api/jobs")]);
    listRuns(runs);
    listJobs(jobs.slice().reverse());  // newest first
    if (selected && !runs.some((run) => run.id === selected)) selected = null;  // deleted
    await showRun();
    showError("", $("page-train"));
  } catch (error) { showError(error.message, $("page-train")); }
  if (!$("page-train").hidden) timer = setTimeout(poll, POLL_MS);
}

async function resume() {
  const more = Number(new FormData($("train-form")).get("kimg"));
  await postJSON("/api/jobs/resume", { run: selected, kimg: more > current.total_kimg ? more : null });
  await poll();
}

async function remove() {
  if (!confirm(`Delete ${current.name} and everything in it (checkpoints, samples, logs)?`)) return;
  const response = await fetch("/api/run?" + query({ run: selected }), { method: "DELETE" });
  if (!response.ok) throw new Error((await response.json()).error);
  selected = null;
  await poll();
}

export async function init() {
  const formPanel = $("train-form");
  formPanel.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(formPanel));
    const button = formPanel.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await postJSON("/api/jobs", form);
      showError("", formPanel);
      selected = null;
      await poll();
    } catch (error) { showError(error.message, formPanel); } finally { button.disabled = false; }
  });
  $("train-resume").addEventListener("click", () => resume().catch((e) => showError(e.message, $("train-view"))));
  $("train-delete").addEventListener("click", () => remove().catch((e) => showError(e.message, $("train-view"))));
  const choices = await getJSON("/api/data");
  $("train-data-choices").replaceChildren(...choices.map((choice) => new Option(choice, choice)));
}

export function shown() { poll(); }
