// Shared helpers: JSON/PNG requests with visible errors, model pickers, and live images that coalesce slider events.
const errorBox = () => document.getElementById("error");

export function showError(message) {
  const box = errorBox();
  box.textContent = message;
  box.hidden = !message;
}

async function check(response) {
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
  const error = new Error(message);
  error.status = response.status;
  throw error;
}

export async function getJSON(url) { return (await check(await fetch(url))).json(); }

export async function postJSON(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
  return (await check(response)).json();
}

export async function fetchBlob(url, options) { return (await check(await fetch(url, options))).blob(); }

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  return search.toString();
}

let streamCounter = 0;

// An <img> fed by requests of which at most one is in flight: while one runs, only the newest wish waits, so
// dragging a slider never queues stale work. The server's stream id drops anything stale that still slips through.
export class LiveImage {
  constructor(img, onShown) {
    this.img = img;
    this.onShown = onShown || (() => {});
    this.stream = `s${Date.now().toString(36)}${streamCounter++}`;
    this.busy = false;
    this.wanted = null;
    this.url = null;
  }

  request(makeRequest) {  // makeRequest(stream) -> Promise<Blob>
    this.wanted = makeRequest;
    if (!this.busy) this.pump();
  }

  async pump() {
    this.busy = true;
    while (this.wanted) {
      const make = this.wanted;
      this.wanted = null;
      try {
        const blob = await make(this.stream);
        if (this.url) URL.revokeObjectURL(this.url);
        this.url = URL.createObjectURL(blob);
        this.img.src = this.url;
        this.img.dataset.version = String(Number(this.img.dataset.version || 0) + 1);
        this.onShown(this.url, blob);
        showError("");
      } catch (error) {
        if (error.status !== 409) showError(error.message);  // 409: superseded by a newer request
      }
    }
    this.busy = false;
  }
}

export async function fillModels(select, wantPaired) {
  const previous = select.value;
  const models = (await getJSON("/api/models")).filter((m) => m.paired === wantPaired);
  select.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
  if (models.some((m) => m.id === previous)) select.value = previous;
  if (!models.length) showError(wantPaired ? "No image-to-image (pix2pix) model: train one with --model pix2pix."
                                           : "No noise-to-image model yet: train one, or start one on the Train page.");
  return models;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
