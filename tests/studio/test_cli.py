"""`ganforge studio` / `ganforge serve`: local-only by default, and the command really serves the app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from ganforge.cli import main


def test_studio_cli_binds_localhost_by_default():
    for name in ("studio", "serve"):
        options = {param.name: param for param in main.commands[name].params}
        assert options["host"].default == "127.0.0.1" and options["port"].default == 7860
    result = CliRunner().invoke(main, ["studio", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output
    result = CliRunner().invoke(main, ["studio", "/no/such/run"])
    assert result.exit_code == 2


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_studio_command_serves_on_localhost(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "ganforge", "studio", "--runs", str(tmp_path / "runs"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "ganforge studio did not start serving"
                time.sleep(0.3)
        assert status == 200 and "ganforge studio" in page
        assert _get(f"http://127.0.0.1:{port}/api/models") == (200, "[]")
        assert (tmp_path / "runs").is_dir()
    finally:
        process.terminate()
        process.wait(30)
    assert f"http://127.0.0.1:{port}/" in process.stdout.read().decode()


def test_other_hosts_only_when_asked_and_with_a_warning(tmp_path, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--runs", str(tmp_path)])
    assert result.exit_code == 0 and "warning" not in result.output
    assert calls[-1]["host"] == "127.0.0.1"
    result = runner.invoke(main, ["studio", "--runs", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 0 and calls[-1]["host"] == "0.0.0.0"
    assert "warning: listening on 0.0.0.0" in result.output and "no login" in result.output


def test_threads_hosts_and_data_roots_reach_the_app(tmp_path, monkeypatch):
    import torch
    import uvicorn

    from ganforge.cli.studio import default_threads

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: apps.append(app))
    before = torch.get_num_threads()
    try:
        (tmp_path / "data" / "photos").mkdir(parents=True)
        result = CliRunner().invoke(
            main,
            [
                "studio",
                "--runs",
                str(tmp_path / "runs"),
                "--threads",
                "3",
                "--allowed-host",
                "studio.lan",
                "--data-root",
                str(tmp_path / "data"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 3
        studio = apps[-1].state.studio
        assert "data/photos" in studio.data.choices()
        CliRunner().invoke(main, ["serve", "--runs", str(tmp_path / "runs")])
        assert torch.get_num_threads() == default_threads() and 1 <= default_threads() <= 4
        result = CliRunner().invoke(main, ["studio", "--runs", str(tmp_path / "runs"), "--threads", "0"])
        assert result.exit_code == 2 and "--threads" in result.output
    finally:
        torch.set_num_threads(before)
    from fastapi.testclient import TestClient

    with TestClient(apps[0], base_url="http://studio.lan") as client:
        assert client.get("/api/models").status_code == 200
        assert client.get("/api/models", headers={"host": "evil.example.com"}).status_code == 400
