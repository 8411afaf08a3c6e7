"""Checks on every request before any endpoint runs (an ASGI middleware):

- the Host header must name the studio (the names it is bound to, plus `--allowed-host`), so a web page whose domain
  is rebound to 127.0.0.1 (DNS rebinding) cannot drive the API;
- a state-changing request (POST and friends) must come from the studio's own pages: a cross-site
  `Sec-Fetch-Site` or an `Origin` other than the Host is refused;
- a request body is counted as it streams in and cut off with a 413 at the limit, so a chunked body (no
  Content-Length) is never received in full first. Uploads (multipart) get the upload limit, anything else (JSON)
  a small one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import urlsplit

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")  # what a studio bound to the loopback answers to
ANY_HOST = "*"  # --allowed-host '*': no Host check (behind a proxy that checks it)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})  # Sec-Fetch-Site values of the studio's own requests
JSON_BODY_BYTES = 64 * 2**10  # limit of a body that is not an upload (training form, game answers)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def host_name(value: str) -> str:
    """'localhost:7860' -> 'localhost', '[::1]:7860' -> '::1', 'Example.COM' -> 'example.com'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def bound_names(host: str, extra: Collection[str] = ()) -> tuple[str, ...]:
    """The Host names a studio listening on `host` answers to: the loopback names for a loopback address, else the
    address itself (and, for 0.0.0.0 / ::, this machine's host names and their addresses), plus `extra`
    (--allowed-host)."""
    import socket

    names = [host_name(host)]
    if names[0] in LOCAL_NAMES:
        names += LOCAL_NAMES
    elif names[0] in ("0.0.0.0", "::", ""):
        hostname = socket.gethostname().lower()
        try:
            addresses = socket.gethostbyname_ex(hostname)[2]
        except OSError:
            addresses = []
        names = [*LOCAL_NAMES, hostname, socket.getfqdn().lower(), *addresses]
    return tuple(dict.fromkeys([*names, *(host_name(e) if e != ANY_HOST else e for e in extra)]))


class RequestGuard:
    """The ASGI middleware: Host check, cross-origin refusal, streamed body limits (`upload_bytes` for multipart)."""

    def __init__(self, app, allowed_hosts: Collection[str], upload_bytes: int, body_bytes: int = JSON_BODY_BYTES):
        self.app = app
        self.allowed = None if ANY_HOST in allowed_hosts else frozenset(map(host_name, allowed_hosts))
        self.upload_bytes, self.body_bytes = upload_bytes, body_bytes

    def refusal(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        """(status, message) when the request must not reach the app, else None."""
        host = headers.get("host", "")
        if self.allowed is not None and host_name(host) not in self.allowed:
            return 400, (
                f"Host {host!r} is not a name of this studio; start it with --allowed-host "
                f"{host_name(host) or 'NAME'} to accept it"
            )
        if method in SAFE_METHODS:
            return None
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in SAME_SITE_FETCHES:
            return 403, f"cross-site {method} refused (Sec-Fetch-Site: {fetch_site}): use the studio's own pages"
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return 403, f"cross-origin {method} from {origin!r} refused: use the studio's own pages"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        method = scope["method"]
        problem = self.refusal(method, headers)
        if problem:
            return await _answer(send, *problem)
        if method in SAFE_METHODS:
            return await self.app(scope, receive, send)
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.upload_bytes if multipart else self.body_bytes
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _answer(send, 413, f"request body over the limit of {limit} bytes")
        body = bytearray()
        while True:  # read the body as it streams, never past the limit
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                return await _answer(send, 413, f"request body over the limit of {limit} bytes")
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the client's disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _answer(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
