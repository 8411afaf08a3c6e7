"""The studio's HTTP API under /api, one router per area."""

from . import files, game, jobs, latent, models

ROUTERS = (models.router, latent.router, game.router, jobs.router, files.router)
