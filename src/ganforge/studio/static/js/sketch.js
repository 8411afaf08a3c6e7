// Sketch: draw on a canvas (pen, eraser, undo, clear, a random held-out example) and see a pix2pix model's
// translation while drawing; or upload a photo, shown beside its translation at the photo's own size and shape. The
// pen's default width follows the model's resolution, so a line stays visible once the drawing is scaled down.
import { LiveImage, busy, fetchBlob, fillModels, getJSON, query, showError } from "./common.js";

const $ = (id) => document.getElementById(id);
const UNDO_LIMIT = 30;
let canvas, context, output;
const history = [];
let drawing = false;
let last = null;
let action = 0;  // bumped by every drawing or upload: a slower "random example" answer is then dropped
let photoUrl = null;

function tool() { return document.querySelector('input[name="sketch-tool"]:checked').value; }

function clear() {
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
}

function remember() {
  history.push(context.getImageData(0, 0, canvas.width, canvas.height));
  if (history.length > UNDO_LIMIT) history.shift();
}

function canvasBlob() { return new Promise((resolve) => canvas.toBlob(resolve, "image/png")); }

async function translateBlob(blob, fit, stream) {
  const body = new FormData();
  body.append("image", blob, "sketch.png");
  return fetchBlob("/api/translate?" + query({ model: $("sketch-model").value, fit, stream }), { method: "POST", body });
}

function showPhoto(file) {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = file ? URL.createObjectURL(file) : null;
  $("sketch-photo-figure").hidden = !file;
  if (file) $("sketch-photo").src = photoUrl;
}

function translateCanvas() {
  if (!$("sketch-model").value) return;
  showPhoto(null);
  output.request(async (stream) => translateBlob(await canvasBlob(), true, stream), "translation of the drawing");
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

function stroke(from, to) {
  context.strokeStyle = tool() === "pen" ? "#000" : "#fff";
  context.lineWidth = Number($("sketch-size").value) * (tool() === "pen" ? 1 : 3);
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
}

async function example() {
  const mine = ++action;
  const section = $("page-sketch");
  try {
    const response = await busy($("sketch-canvas").closest("figure"), fetch("/api/example?" + query({
      model: $("sketch-model").value, seed: Math.floor(Math.random() * 1e9) })));
    if (!response.ok) throw new Error((await response.json()).error);
    const bitmap = await createImageBitmap(await response.blob());
    if (mine !== action) return;  // the user drew or uploaded meanwhile: keep their work on screen
    remember();
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const heldOut = response.headers.get("X-Held-Out") === "true";
    $("sketch-caption").textContent = `${heldOut ? "held-out" : "training"} example ${response.headers.get("X-Example-File")}`;
    showError("", section);
    translateCanvas();
  } catch (error) { showError(error.message, section); }
}

// Pen width on the 256 px canvas so that a default line is about 1.5 model pixels wide after scaling.
async function fitPen() {
  if (!$("sketch-model").value) return;
  const info = await getJSON("/api/model?" + query({ model: $("sketch-model").value }));
  $("sketch-size").value = Math.max(3, Math.round(1.5 * canvas.width / info.resolution));
  canvas.dataset.modelResolution = info.resolution;
}

async function pickModel() {
  await fitPen();
  translateCanvas();
}

export async function init() {
  canvas = $("sketch-canvas");
  context = canvas.getContext("2d", { willReadFrequently: true });
  clear();
  output = new LiveImage($("sketch-output"), (url, blob, caption) => {
    $("sketch-download").href = url;
    $("sketch-output-caption").textContent = caption;
  });
  canvas.addEventListener("pointerdown", (event) => {
    action++;
    remember();
    drawing = true;
    last = point(event);
    canvas.setPointerCapture(event.pointerId);
    stroke(last, last);
    translateCanvas();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = point(event);
    stroke(last, next);
    last = next;
    translateCanvas();
  });
  const end = () => { if (drawing) { drawing = false; translateCanvas(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("sketch-undo").addEventListener("click", () => {
    if (history.length) { action++; context.putImageData(history.pop(), 0, 0); translateCanvas(); }
  });
  $("sketch-clear").addEventListener("click", () => { action++; remember(); clear(); translateCanvas(); });
  $("sketch-example").addEventListener("click", example);
  $("sketch-model").addEventListener("change", () => pickModel().catch((e) => showError(e.message, $("page-sketch"))));
  $("sketch-upload").addEventListener("change", () => {
    const file = $("sketch-upload").files[0];
    if (!file) return;
    action++;
    showPhoto(file);
    output.request((stream) => translateBlob(file, false, stream), `translation of ${file.name} at its own size`);
  });
  canvas.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z") $("sketch-undo").click();
  });
  const usable = await fillModels($("sketch-model"), true, $("sketch-empty"));
  $("page-sketch").toggleAttribute("data-empty", !usable.length);
  await pickModel();
}
