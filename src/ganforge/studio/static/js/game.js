// Which is real?: two images, one from the training data and one generated; click (or press ← / →) the real one.
// The server deals each round, times the answer and logs it to RUN_DIR/human_eval.jsonl; the page keeps score and
// shows the fool rate of each checkpoint and truncation. The buttons work only once both images are on screen.
import { busy, fillModels, postJSON, query, getJSON, showError } from "./common.js";

const $ = (id) => document.getElementById(id);
const LOOK_MS = 250;  // the pair is on screen at least this long before a pick counts (the server refuses faster ones)
let round = null;
let score = 0, rounds = 0, streak = 0;
const panel = () => $("page-game");

function percent(x) { return `${(100 * x).toFixed(1)}%`; }

function rateText(group) {
  return `${percent(group.fool_rate)} (95% interval ${percent(group.low)}–${percent(group.high)}, ${group.total} judgements)`;
}

function showRates(groups) {
  const box = $("game-foolrate");
  if (!groups.length) { box.textContent = "No judgements for this run yet."; return; }
  box.replaceChildren("Fool rate (chance is 50%), per checkpoint and truncation: ",
    ...groups.map((g) => Object.assign(document.createElement("span"), {
      className: "rate", textContent: `${g.checkpoint}, ψ ${g.truncation}: ${rateText(g)}` })));
}

function setPickable(on) { for (const side of ["left", "right"]) $(`game-${side}`).disabled = !on; }

async function deal() {
  if (!$("game-model").value) return;
  round = null;
  setPickable(false);
  for (const side of ["left", "right"]) $(`game-${side}`).classList.remove("correct", "wrong");
  try {
    const dealt = await busy($("game-duel"), postJSON("/api/game/round", {
      model: $("game-model").value, truncation: Number($("game-truncation").value) }));
    await Promise.all(["left", "right"].map((side) => new Promise((resolve) => {
      const img = $(`game-${side}`).querySelector("img");
      img.onload = img.onerror = resolve;
      img.src = dealt[side];
    })));
    $("game-verdict").textContent = "";
    showError("", panel());
    setTimeout(() => { round = dealt.round; setPickable(true); }, LOOK_MS);
  } catch (error) { showError(error.message, panel()); }
}

async function pick(side) {
  if (!round) return;
  const id = round;
  round = null;
  setPickable(false);
  try {
    const result = await postJSON("/api/game/answer", { round: id, choice: side });
    rounds += 1;
    score += result.correct ? 1 : 0;
    streak = result.correct ? streak + 1 : 0;
    $("game-score").textContent = score;
    $("game-rounds").textContent = rounds;
    $("game-streak").textContent = streak;
    $(`game-${result.real_side}`).classList.add("correct");
    if (!result.correct) $(`game-${side}`).classList.add("wrong");
    $("game-verdict").textContent = (result.correct ? "Right: that one is real. " : "Fooled: that one was generated. ")
      + `Fool rate of ${result.checkpoint}, ψ ${result.truncation}: ${rateText(result)}`;
    getJSON("/api/game/stats?" + query({ model: $("game-model").value })).then((stats) => showRates(stats.groups));
    setTimeout(deal, 600);
  } catch (error) { showError(error.message, panel()); round = id; setPickable(true); }
}

async function refresh() {
  if (!$("game-model").value) return;
  showRates((await getJSON("/api/game/stats?" + query({ model: $("game-model").value }))).groups);
  await deal();
}

async function reset() {
  if (!$("game-model").value || !confirm("Start this run's judgements afresh? The old log is kept, renamed.")) return;
  await postJSON("/api/game/reset", { model: $("game-model").value });
  score = rounds = streak = 0;
  for (const id of ["game-score", "game-rounds", "game-streak"]) $(id).textContent = "0";
  await refresh();
}

export async function init() {
  $("game-left").addEventListener("click", () => pick("left"));
  $("game-right").addEventListener("click", () => pick("right"));
  $("game-start").addEventListener("click", deal);
  $("game-reset").addEventListener("click", () => reset().catch((e) => showError(e.message, panel())));
  for (const id of ["game-model", "game-truncation"]) {
    $(id).addEventListener("change", () => refresh().catch((e) => showError(e.message, panel())));
  }
  document.addEventListener("keydown", (event) => {
    if ($("page-game").hidden || event.target.matches("input, select")) return;
    if (event.key === "ArrowLeft") pick("left");
    if (event.key === "ArrowRight") pick("right");
  });
  const usable = await fillModels($("game-model"), false, $("game-empty"));
  $("page-game").toggleAttribute("data-empty", !usable.length);
  await refresh();
}
