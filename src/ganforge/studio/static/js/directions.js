// Direction sliders for the Generate page; filled once the latent-direction API is available on the server.
export async function setup(info, onChange) {
  document.getElementById("gen-directions-panel").hidden = true;
}

export function current() { return null; }
