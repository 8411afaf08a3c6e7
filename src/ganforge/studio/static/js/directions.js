// Direction sliders (SeFa, GANSpace, or a `ganforge directions` file): one slider per direction, in standard
// deviations; used by the Generate page (edits of a seed) and the Project page (edits of a projected photo).
import { getJSON, query, showError } from "./common.js";

const COUNT = 6;

export class DirectionSliders {
  constructor(container, methodSelect, onChange) {
    this.container = container;
    this.methodSelect = methodSelect;
    this.onChange = onChange;
    this.model = null;
    methodSelect.addEventListener("change", () => this.load().catch((e) => showError(e.message)));
  }

  async setup(info) {  // returns false for models without latent directions (pix2pix, class-conditional)
    this.model = info.id;
    const usable = !info.paired && !info.classes.length;
    const files = (info.direction_files || []).map((path) => new Option(`file: ${path.split("/").pop()}`, path));
    this.methodSelect.replaceChildren(new Option("SeFa", "sefa"), new Option("GANSpace", "ganspace"), ...files);
    this.container.replaceChildren();
    if (usable) await this.load();
    return usable;
  }

  async load() {
    const found = await getJSON("/api/directions?" + query({ model: this.model, method: this.methodSelect.value,
                                                            num: COUNT }));
    this.container.replaceChildren(...found.names.map((name) => {
      const row = document.createElement("label");
      row.className = "slider-row";
      const slider = Object.assign(document.createElement("input"),
                                   { type: "range", min: -5, max: 5, step: 0.1, value: 0 });
      slider.dataset.direction = name;
      const value = document.createElement("output");
      value.textContent = "0.0";
      slider.addEventListener("input", () => { value.textContent = Number(slider.value).toFixed(1); this.onChange(); });
      const label = document.createElement("span");
      label.textContent = name;
      row.append(label, slider, value);
      return row;
    }));
  }

  reset() {
    for (const slider of this.container.querySelectorAll("input")) slider.value = 0;
    for (const out of this.container.querySelectorAll("output")) out.textContent = "0.0";
    this.onChange();
  }

  // {method, num, strengths} when any slider is off zero, else null
  current() {
    const values = [...this.container.querySelectorAll("input")].map((s) => Number(s.value));
    if (!values.some((v) => v !== 0)) return null;
    return { method: this.methodSelect.value, num: COUNT, strengths: values.join(",") };
  }
}
