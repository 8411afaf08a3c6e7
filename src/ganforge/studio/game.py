"""The "Which is real?" game: a round pairs one real training image with one generated image in random order; the
server alone knows which side is real, so an answer is judged here and appended to RUN_DIR/human_eval.jsonl."""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.generator import LoadedGenerator
from . import human_eval
from .errors import StudioError
from .realdata import RealData
from .render import generate_image

MAX_PENDING = 1000  # rounds waiting for an answer (the oldest are forgotten)
MAX_RESPONSE_MS = 3_600_000
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
    created: float  # time.monotonic() when dealt


def judgement_dir(generator: LoadedGenerator) -> Path:
    """The run folder of a checkpoint, or the export folder itself."""
    source = Path(generator.source)
    return source.parent if source.is_file() else source


class Game:
    def __init__(self, real_data: RealData):
        self.real_data = real_data
        self._pending: OrderedDict[str, Round] = OrderedDict()
        self._lock = threading.Lock()

    def deal(self, generator: LoadedGenerator, model: str, truncation: float) -> tuple[Round, np.ndarray, np.ndarray]:
        """A new round: (round, left image, right image), uint8 [H, W, C] each."""
        seed = secrets.randbelow(2**31)
        rng = np.random.default_rng(seed)
        real = self.real_data.sample(generator, rng)
        fake = generate_image(generator, seed, truncation=truncation)
        real_side = SIDES[int(rng.integers(2))]
        round_ = Round(secrets.token_hex(8), model, judgement_dir(generator), round(generator.kimg, 3), truncation,
                       seed, real.name, real_side, time.monotonic())
        with self._lock:
            self._pending[round_.id] = round_
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
        return (round_, real.image, fake) if real_side == "left" else (round_, fake, real.image)

    def answer(self, round_id: str, choice: str, response_ms: float | None) -> dict[str, Any]:
        """Judge a pick (the side the player thinks is real), log it, and return the outcome and the fool rate."""
        if choice not in SIDES:
            raise StudioError(400, f"choice {choice!r}: must be 'left' or 'right'")
        if response_ms is not None and not 0 <= response_ms <= MAX_RESPONSE_MS:
            raise StudioError(400, f"response_ms {response_ms}: must be between 0 and {MAX_RESPONSE_MS}")
        with self._lock:
            round_ = self._pending.pop(round_id, None)
        if round_ is None:
            raise StudioError(404, f"round {round_id!r}: unknown or already answered")
        if response_ms is None:
            response_ms = (time.monotonic() - round_.created) * 1000
        correct = choice == round_.real_side
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": round_.model,
                  "kimg": round_.kimg, "truncation": round_.truncation, "seed": round_.seed,
                  "real_file": round_.real_file, "real_side": round_.real_side, "answer": choice,
                  "correct": correct, "fooled": not correct, "response_ms": round(float(response_ms), 1)}
        human_eval.append_judgement(round_.run_dir, record)
        rate = human_eval.fool_rate(human_eval.read_judgements(round_.run_dir))
        return {"correct": correct, "real_side": round_.real_side, **rate.to_dict()}
