"""The API reference at /docs, rendered on the server from the app's OpenAPI schema into one plain HTML page: it
needs no script or stylesheet from a CDN, so it works offline (the raw schema stays at /openapi.json)."""

from __future__ import annotations

from html import escape
from typing import Any

METHODS = ("get", "post", "put", "delete")


def _schema_text(schema: dict[str, Any]) -> str:
    """A parameter's type in a few words: 'integer, 0..2147483647, default 0'."""
    options = schema.get("anyOf")
    kind = " or ".join(o.get("type", "?") for o in options) if options else schema.get("type", "")
    parts = [kind] if kind else []
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "pattern" in schema:
        parts.append(f"pattern {schema['pattern']}")
    if "default" in schema:
        parts.append(f"default {schema['default']}")
    return ", ".join(map(str, parts))


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p.get('in', ''))}"
        f"{' (required)' if p.get('required') else ''}</td><td>{escape(_schema_text(p.get('schema', {})))}</td>"
        f"<td>{escape(p.get('description') or p.get('schema', {}).get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    )
    body = operation.get("requestBody", {}).get("content", {})
    body_note = f"<p>Body: {escape(', '.join(body))}</p>" if body else ""
    table = f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>{rows}</table>" if rows else ""
    return (
        f"<section><h2><code>{method.upper()} {escape(path)}</code></h2>"
        f"<p>{escape(operation.get('summary', ''))}</p>{table}{body_note}</section>"
    )


def render(schema: dict[str, Any]) -> str:
    """The whole /docs page for an OpenAPI schema."""
    info = schema.get("info", {})
    sections = "".join(
        _operation(path, method, item[method])
        for path, item in schema.get("paths", {}).items()
        for method in METHODS
        if method in item
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(info.get('title', 'API'))} API</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.25rem;"
        "text-align:left;vertical-align:top}h2{font-size:1rem;margin-top:1.5rem}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))}</h1><p>{escape(info.get('summary', ''))} "
        "Machine-readable schema: <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"{sections}</body></html>"
    )
