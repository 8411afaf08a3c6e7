// Shared helpers: JSON/PNG requests, errors shown in the panel they belong to (until that panel succeeds), busy
// indicators, model pickers with an empty state, and live images that coalesce slider events.
const pageError = () => document.getElementById("error");

// An error box at the top of `panel` (created on first use); without a panel, the page-wide banner. An empty
// message hides the box.
export function showError(message, panel) {
  let box = pageError();
  if (panel) {
    box = panel.querySelector(":scope > .panel-error");
    if (!box) {
      box = Object.assign(document.createElement("p"), { className: "panel-error", role: "alert" });
      panel.prepend(box);
    }
  }
  box.textContent = message || "";
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

// Marks `element` busy (aria-busy: a spinner in CSS) while `promise` runs; returns the promise's result.
export async function busy(element, promise) {
  element.setAttribute("aria-busy", "true");
  try { return await promise; } finally { element.removeAttribute("aria-busy"); }
}

let streamCounter = 0;

// An <img> fed by requests of which at most one is in flight: while one runs, only the newest wish waits, so
// dragging a slider never queues stale work. The server's stream id drops anything stale that still slips through.
// `onShown(url, blob, context)` runs only once an image arrived (captions change with the image, not before); an
// error is shown in `panel` and stays there until this image succeeds again.
export class LiveImage {
  constructor(img, onShown, panel) {
    this.img = img;
    this.onShown = onShown || (() => {});
    this.panel = panel || img.closest(".panel, figure");
    this.stream = `s${Date.now().toString(36)}${streamCounter++}`;
    this.busy = false;
    this.wanted = null;
    this.url = null;
  }

  request(makeRequest, context) {  // makeRequest(stream) -> Promise<Blob>; context: passed on to onShown
    this.wanted = { makeRequest, context };
    if (!this.busy) this.pump();
  }

  async pump() {
    this.busy = true;
    const figure = this.img.closest("figure") || this.img;
    figure.setAttribute("aria-busy", "true");
    while (this.wanted) {
      const { makeRequest, context } = this.wanted;
      this.wanted = null;
      try {
        const blob = await makeRequest(this.stream);
        if (this.url) URL.revokeObjectURL(this.url);
        this.url = URL.createObjectURL(blob);
        this.img.src = this.url;
        this.img.dataset.version = String(Number(this.img.dataset.version || 0) + 1);
        this.onShown(this.url, blob, context);
        showError("", this.panel);
      } catch (error) {
        if (error.status !== 409) showError(error.message, this.panel);  // 409: superseded by a newer request
      }
    }
    figure.removeAttribute("aria-busy");
    this.busy = false;
  }
}

// Fills a model picker with the models of one kind; models without a checkpoint yet are listed but disabled, the
// newest usable one is chosen. With none, `emptyState` (an element) says what to do and the function returns [].
export async function fillModels(select, wantPaired, emptyState) {
  const previous = select.value;
  const models = (await getJSON("/api/models")).filter((m) => m.paired === wantPaired);
  select.replaceChildren(...models.map((m) => {
    const option = new Option(m.ready ? m.id : `${m.id} (no checkpoint yet)`, m.id);
    option.disabled = !m.ready;
    return option;
  }));
  const usable = models.filter((m) => m.ready);
  select.value = usable.some((m) => m.id === previous) ? previous : (usable[0]?.id ?? "");
  if (emptyState) emptyState.hidden = usable.length > 0;
  return usable;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
