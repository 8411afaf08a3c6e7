"""The studio's "Which is real?" game: rounds, answers, fool rates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...artifacts.generator import LoadedGenerator
from ...limits import TRUNCATION
from .. import human_eval
from ..game import judgement_folder
from ..state import StudioDep
from .params import data_url

router = APIRouter()


class RoundRequest(BaseModel):
    model: str = Field(description="A noise-to-image model's path, e.g. runs/00000-demo.")
    truncation: float = Field(1.0, ge=TRUNCATION.low, le=TRUNCATION.high)


class AnswerRequest(BaseModel):
    round: str = Field(max_length=64, description="The id of a round this server dealt.")
    choice: str = Field(description="The side the player thinks is real: left or right.")


class ResetRequest(BaseModel):
    model: str = Field(description="A model of the run whose judgements start afresh (the old log is kept, renamed).")


@router.post("/api/game/round", summary="Deal a round of 'Which is real?': two images, one real.")
async def game_round(studio: StudioDep, request: RoundRequest) -> dict[str, Any]:
    def work(generator: LoadedGenerator):
        round_, left, right = studio.game.deal(generator, request.model, request.truncation)
        return {"round": round_.id, "left": data_url(left), "right": data_url(right)}

    return await studio.with_model(request.model, work, fast=True)


@router.post(
    "/api/game/answer",
    summary="Judge a pick of a dealt round (timed here); appends a line to RUN_DIR/human_eval.jsonl.",
)
def game_answer(studio: StudioDep, request: AnswerRequest) -> dict[str, Any]:
    return studio.game.answer(request.round, request.choice)


@router.get(
    "/api/game/stats",
    summary="Fool rates of a model's run, one per checkpoint and truncation, with 95% "
    "Wilson intervals (loads no model).",
)
def game_stats(studio: StudioDep, model: str) -> dict[str, Any]:
    folder = judgement_folder(studio.roots.resolve(model, "model"))
    records = human_eval.read_judgements(folder) if (folder / human_eval.FILE_NAME).is_file() else []
    return {"groups": human_eval.fool_rates_by_group(records)}


@router.post("/api/game/reset", summary="Start the run's judgements afresh (the old log is renamed, not deleted).")
def game_reset(studio: StudioDep, request: ResetRequest) -> dict[str, Any]:
    folder = judgement_folder(studio.roots.resolve(request.model, "model"))
    archived = human_eval.archive(folder)
    studio.game.forget(folder)
    return {"archived": studio.roots.client_path(archived) if archived else None}
