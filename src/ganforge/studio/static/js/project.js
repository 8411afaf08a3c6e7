// Project / edit: needs the latent projection API on the server (added with ganforge.latent.project).
import { fillModels } from "./common.js";

export async function init() {
  await fillModels(document.getElementById("project-model"), false);
}
