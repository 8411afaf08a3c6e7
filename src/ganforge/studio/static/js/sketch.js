// Sketch: draw on a canvas (pen, eraser, undo, clear, a random held-out example) and see a pix2pix model's
// translation while drawing; or upload a photo to translate at full size.
import { LiveImage, fetchBlob, fillModels, query, showError } from "./common.js";

const $ = (id) => document.getElementById(id);
const UNDO_LIMIT = 30;
let canvas, context, output;
const history = [];
let drawing = false;
let last = null;

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

function translateCanvas() {
  if (!$("sketch-model").value) return;
  output.request(async (stream) => translateBlob(await canvasBlob(), true, stream));
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
  try {
    const response = await fetch("/api/example?" + query({ model: $("sketch-model").value,
                                                          seed: Math.floor(Math.random() * 1e9) }));
    if (!response.ok) throw new Error((await response.json()).error);
    const bitmap = await createImageBitmap(await response.blob());
    remember();
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const heldOut = response.headers.get("X-Held-Out") === "true";
    $("sketch-caption").textContent = `${heldOut ? "held-out" : "training"} example ${response.headers.get("X-Example-File")}`;
    translateCanvas();
  } catch (error) { showError(error.message); }
}

export async function init() {
  canvas = $("sketch-canvas");
  context = canvas.getContext("2d", { willReadFrequently: true });
  clear();
  output = new LiveImage($("sketch-output"), (url) => { $("sketch-download").href = url; });
  canvas.addEventListener("pointerdown", (event) => {
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
    if (history.length) { context.putImageData(history.pop(), 0, 0); translateCanvas(); }
  });
  $("sketch-clear").addEventListener("click", () => { remember(); clear(); translateCanvas(); });
  $("sketch-example").addEventListener("click", example);
  $("sketch-model").addEventListener("change", translateCanvas);
  $("sketch-upload").addEventListener("change", () => {
    const file = $("sketch-upload").files[0];
    if (file) output.request((stream) => translateBlob(file, false, stream));
  });
  canvas.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z") $("sketch-undo").click();
  });
  await fillModels($("sketch-model"), true);
  translateCanvas();
}
