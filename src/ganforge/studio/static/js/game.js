// Which is real?: two images, one from the training data and one generated; click (or press ← / →) the real one.
// The server judges the pick and logs it to RUN_DIR/human_eval.jsonl; the page keeps score and shows the fool rate.
import { fillModels, postJSON, query, getJSON, showError } from "./common.js";

const $ = (id) => document.getElementById(id);
let round = null;
let shownAt = 0;
let score = 0, rounds = 0, streak = 0;

function percent(x) { return `${(100 * x).toFixed(1)}%`; }

function showRate(stats) {
  $("game-foolrate").textContent = stats.total
    ? `Fool rate of this model: ${percent(stats.fool_rate)} (95% interval ${percent(stats.low)}–${percent(stats.high)}, ` +
      `${stats.total} judgements; chance is 50%)`
    : "No judgements for this model yet.";
}

async function deal() {
  if (!$("game-model").value) return;
  round = null;
  for (const side of ["left", "right"]) $(`game-${side}`).classList.remove("correct", "wrong");
  try {
    const dealt = await postJSON("/api/game/round", { model: $("game-model").value,
                                                      truncation: Number($("game-truncation").value) });
    await Promise.all(["left", "right"].map((side) => new Promise((resolve) => {
      const img = $(`game-${side}`).querySelector("img");
      img.onload = img.onerror = resolve;
      img.src = dealt[side];
    })));
    round = dealt.round;
    shownAt = performance.now();
    $("game-verdict").textContent = "";
  } catch (error) { showError(error.message); }
}

async function pick(side) {
  if (!round) return;
  const id = round;
  round = null;
  try {
    const result = await postJSON("/api/game/answer", { round: id, choice: side,
                                                        response_ms: Math.round(performance.now() - shownAt) });
    rounds += 1;
    score += result.correct ? 1 : 0;
    streak = result.correct ? streak + 1 : 0;
    $("game-score").textContent = score;
    $("game-rounds").textContent = rounds;
    $("game-streak").textContent = streak;
    $(`game-${result.real_side}`).classList.add("correct");
    if (!result.correct) $(`game-${side}`).classList.add("wrong");
    $("game-verdict").textContent = result.correct ? "Right: that one is real." : "Fooled: that one was generated.";
    showRate(result);
    setTimeout(deal, 600);
  } catch (error) { showError(error.message); }
}

async function refresh() {
  if (!$("game-model").value) return;
  showRate(await getJSON("/api/game/stats?" + query({ model: $("game-model").value })));
  await deal();
}

export async function init() {
  $("game-left").addEventListener("click", () => pick("left"));
  $("game-right").addEventListener("click", () => pick("right"));
  $("game-start").addEventListener("click", deal);
  $("game-model").addEventListener("change", () => refresh().catch((e) => showError(e.message)));
  document.addEventListener("keydown", (event) => {
    if ($("page-game").hidden || event.target.matches("input, select")) return;
    if (event.key === "ArrowLeft") pick("left");
    if (event.key === "ArrowRight") pick("right");
  });
  await fillModels($("game-model"), false);
  await refresh();
}
