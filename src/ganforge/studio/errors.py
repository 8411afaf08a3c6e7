"""The studio's client errors: an HTTP status and a one-line message, answered as JSON `{"error": ...}`."""

from __future__ import annotations


class StudioError(Exception):
    """A bad request the client can fix (status 4xx) or a refusal under load (503); never a server bug."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status  # HTTP status code
        self.message = message  # one line naming the parameter or file at fault
