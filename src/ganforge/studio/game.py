"""The "Which is real?" game: a round pairs one real training image with one generated image in random order; the
server alone knows which side is real, so an answer is judged here and appended to RUN_DIR/human_eval.jsonl. Only
rounds the server dealt can be answered, once each; the response time is measured here (from dealing to the answer),
and an answer faster than a person can look at two images is refused, so a script cannot fill the log with
instant picks."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.generator import LoadedGenerator
from ..limits import SEED
from . import human_eval
from .bounded import Bounded
from .errors import StudioError
from .realdata import RealData
from .render import generate_image

MAX_PENDING = 1000  # rounds waiting for an answer (the oldest are forgotten)
MIN_RESPONSE_MS = 200.0  # faster than this after dealing is not a judgement of the images (the round stays open)
SIDES = ("left", "right")


@dataclass(frozen=True)
class Round:
    id: str
    model: str  # the model's client path
    run_dir: Path  # where human_eval.jsonl is written
    kimg: float
    truncation: float
    seed: int
    real_file: str
    real_side: str  # left | right
    checkpoint: str  # file name of the judged checkpoint (or the export folder)
    created: float  # time.monotonic() when dealt


def judgement_folder(model: Path) -> Path:
    """The run folder of a checkpoint, or the run / export folder itself."""
    return model.parent if model.is_file() else model


def judgement_dir(generator: LoadedGenerator) -> Path:
    return judgement_folder(Path(generator.source))


class Game:
    def __init__(self, real_data: RealData):
        self.real_data = real_data
        self._pending = Bounded(MAX_PENDING)  # round id -> Round
        self._lock = threading.Lock()

    def deal(self, generator: LoadedGenerator, model: str, truncation: float) -> tuple[Round, np.ndarray, np.ndarray]:
        """A new round: (round, left image, right image), uint8 [H, W, C] each."""
        seed = secrets.randbelow(SEED.high + 1)
        rng = np.random.default_rng(seed)
        real = self.real_data.sample(generator, rng)
        fake = generate_image(generator, seed, truncation=truncation)
        real_side = SIDES[int(rng.integers(2))]
        round_ = Round(
            secrets.token_hex(8),
            model,
            judgement_dir(generator),
            round(generator.kimg, 3),
            truncation,
            seed,
            real.name,
            real_side,
            Path(generator.source).name,
            time.monotonic(),
        )
        with self._lock:
            self._pending.remember(round_.id, round_)
        return (round_, real.image, fake) if real_side == "left" else (round_, fake, real.image)

    def answer(self, round_id: str, choice: str) -> dict[str, Any]:
        """Judge a pick (the side the player thinks is real), log it, and return the outcome and the fool rate of
        the round's checkpoint and truncation."""
        if choice not in SIDES:
            raise StudioError(400, f"choice {choice!r}: must be 'left' or 'right'")
        with self._lock:
            round_ = self._pending.get(round_id)
            if round_ is None:
                raise StudioError(404, f"round {round_id!r}: unknown or already answered")
            response_ms = (time.monotonic() - round_.created) * 1000
            if response_ms < MIN_RESPONSE_MS:
                raise StudioError(
                    400,
                    f"round {round_id!r}: answered {response_ms:.0f} ms after it was dealt, faster "
                    f"than a person can compare two images ({MIN_RESPONSE_MS:.0f} ms); look first",
                )
            del self._pending[round_id]
        correct = choice == round_.real_side
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": round_.model,
            "checkpoint": round_.checkpoint,
            "kimg": round_.kimg,
            "truncation": round_.truncation,
            "seed": round_.seed,
            "real_file": round_.real_file,
            "real_side": round_.real_side,
            "answer": choice,
            "correct": correct,
            "fooled": not correct,
            "response_ms": round(float(response_ms), 1),
        }
        human_eval.append_judgement(round_.run_dir, record)
        group = human_eval.group_key(record)
        rate = human_eval.fool_rate(
            [r for r in human_eval.read_judgements(round_.run_dir) if human_eval.group_key(r) == group]
        )
        return {
            "correct": correct,
            "real_side": round_.real_side,
            "checkpoint": round_.checkpoint,
            "truncation": round_.truncation,
            **rate.to_dict(),
        }

    def forget(self, run_dir: Path) -> None:
        """Drop the open rounds of a run (its log was reset)."""
        with self._lock:
            for key in [key for key, round_ in self._pending.items() if round_.run_dir == run_dir]:
                del self._pending[key]
