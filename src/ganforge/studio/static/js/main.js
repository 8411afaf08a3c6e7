// Page switching by URL hash; each page initialises on first visit.
import * as generate from "./generate.js";
import * as sketch from "./sketch.js";
import * as game from "./game.js";
import * as train from "./train.js";
import * as project from "./project.js";
import { showError } from "./common.js";

const pages = { generate, sketch, game, train, project };
const started = new Set();

function show() {
  const name = (location.hash || "#generate").slice(1);
  const page = pages[name] ? name : "generate";
  for (const key of Object.keys(pages)) {
    document.getElementById(`page-${key}`).hidden = key !== page;
    document.querySelector(`nav a[data-page="${key}"]`).toggleAttribute("aria-current", key === page);
    if (key === page) document.querySelector(`nav a[data-page="${key}"]`).setAttribute("aria-current", "page");
  }
  showError("");
  if (!started.has(page)) {
    started.add(page);
    pages[page].init().catch((error) => showError(error.message));
  }
  pages[page].shown?.();
}

window.addEventListener("hashchange", show);
show();
