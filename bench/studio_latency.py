"""Studio latency on this machine, through HTTP on 127.0.0.1 (uvicorn in this process, httpx clients):

- p50/p99 of /api/generate for dcgan-64 and stylegan2-32 (the slider-to-image path: request -> PNG bytes), and of
  /api/translate for a 256x256 sketch on a pix2pix-256 model;
- the same computations called directly (no HTTP, no PNG) in the same run, as the reference the HTTP path adds to;
- a load test against `ganforge serve` in its own process: N concurrent clients for T seconds on /api/generate
  (stylegan2-32; half of them name the run folder, half its checkpoint file), while one more client times the
  listing endpoint /api/runs; it prints answered / refused-busy (503) / failed requests, the /api/runs latency, and
  the server's resident memory and thread count at start, at their peak and at the end. `--server-src` runs the
  server from another checkout (e.g. the code before a change) for a before/after comparison.

Models are untrained (one training step): latency does not depend on what the weights learnt.

    python bench/studio_latency.py [--requests 100] [--clients 8] [--seconds 10] [--threads 2] [--keep DIR]
    python bench/studio_latency.py --load-only --clients 200 --seconds 20 --keep /tmp/studio-bench [--server-src SRC]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

TARGETS_MS = {"stylegan2-32 generate": 50.0, "pix2pix-256 translate 256x256": 300.0}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


def train_models(out: Path, existing: dict[str, Path], only: list[str] | None = None) -> dict[str, Path]:
    """One-step runs (those not in `existing`): dcgan-64, stylegan2-32 (its preset), pix2pix-256 on random pairs."""
    import ganforge

    base = {
        "train.out": str(out / "runs"),
        "train.total_kimg": 0.004,
        "train.snapshot_every_kimg": 0.004,
        "train.grid_size": 4,
        "train.batch": 4,
    }
    pairs = out / "pairs"
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (pairs / side).mkdir(parents=True, exist_ok=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(pairs / side / f"{index}.png")
    recipes = {
        "dcgan-64": ({"data.source": "shapes", "data.resolution": 64, "model.name": "dcgan"}, None),
        "stylegan2-32": ({"data.source": "shapes"}, "stylegan2-32"),
        "pix2pix-256": (
            {"data.source": str(pairs), "data.resolution": 256, "model.name": "pix2pix", "train.batch": 2},
            None,
        ),
    }
    runs = dict(existing)
    for name, (overrides, preset) in recipes.items():
        if name not in runs and (only is None or name in only):
            runs[name] = ganforge.train(
                overrides={**base, **overrides, "train.name": name}, preset=preset, progress=False
            ).run_dir
    return runs


def start_server(runs: Path):
    import uvicorn

    from ganforge.studio.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([], runs), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def timed(call, count: int) -> tuple[list[float], float]:
    """(wall seconds of each call, mean CPU seconds of this process per call: all threads, server included)."""
    call(0)  # warm up (model load, first allocation)
    call(1)
    samples = []
    cpu_start = time.process_time()
    for index in range(count):
        start = time.perf_counter()
        call(index + 2)
        samples.append(time.perf_counter() - start)
    return samples, (time.process_time() - cpu_start) / count


def process_status(pid: int) -> tuple[float, int]:
    """(resident memory in MiB, threads) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def start_server_process(runs: Path, source: Path | None, threads: int | None) -> tuple[subprocess.Popen, str]:
    """`ganforge serve --runs RUNS` in a child process (from `source`'s checkout when given); returns it and its URL."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}  # the server's own choice
    env.update({"PYTHONPATH": str(source)} if source else {})
    command = [sys.executable, "-m", "ganforge", "serve", "--runs", str(runs), "--port", str(port)]
    command += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/api/models", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)


def load_test(url: str, pid: int, models: list[str], clients: int, seconds: float) -> dict:
    """`clients` concurrent asyncio clients requesting distinct seeds (cycling over `models`) until the time is up,
    one more timing /api/runs, and a sampler of the server's memory and threads (one client thread: the client side
    stays light, so the server is what is measured)."""
    import asyncio

    import httpx

    counts = {"answered": 0, "busy": 0, "failed": 0}
    listing_s: list[float] = []
    statuses: list[int | str] = []  # of failed requests: HTTP status or transport error
    samples = [process_status(pid)]

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
        async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as session:

            async def client(index: int) -> None:
                seed = index * 1_000_000
                while time.perf_counter() < deadline:
                    try:
                        response = await session.get(
                            "/api/generate", params={"model": models[index % len(models)], "seed": seed}
                        )
                    except httpx.TransportError as error:
                        counts["failed"] += 1
                        statuses.append(type(error).__name__)
                        continue
                    seed += 1
                    if response.status_code == 503:
                        counts["busy"] += 1  # a polite client waits as long as the server asks (else 50 ms)
                        await asyncio.sleep(float(response.headers.get("retry-after", 0.05)))
                    elif response.status_code == 200 and response.headers["content-type"] == "image/png":
                        counts["answered"] += 1
                    else:
                        counts["failed"] += 1
                        statuses.append(response.status_code)

            async def lister() -> None:
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    (await session.get("/api/runs")).raise_for_status()
                    listing_s.append(time.perf_counter() - start)
                    await asyncio.sleep(0.2)

            async def sampler() -> None:
                while time.perf_counter() < deadline:
                    samples.append(process_status(pid))
                    await asyncio.sleep(0.2)

            await asyncio.gather(*(client(i) for i in range(clients)), lister(), sampler())

    start = time.perf_counter()
    asyncio.run(run())
    samples.append(process_status(pid))
    return {
        **counts,
        "statuses": sorted(set(map(str, statuses))),
        "elapsed": time.perf_counter() - start,
        "listing": listing_s,
        "memory": (samples[0][0], max(m for m, _ in samples), samples[-1][0]),
        "threads": (samples[0][1], max(t for _, t in samples), samples[-1][1]),
    }


def report_load(runs: Path, run_dir: Path, args) -> int:
    """Run and print the load test; returns the number of failed requests."""
    import httpx

    process, url = start_server_process(runs, args.server_src, args.threads if args.server_threads else None)
    try:
        model = f"runs/{run_dir.name}"
        checkpoint = sorted(run_dir.glob("checkpoint-*.pt"))[-1]
        models = [model, f"{model}/{checkpoint.name}"]
        for name in models:  # load the model once before measuring
            httpx.get(url + "/api/generate", params={"model": name, "seed": 0}, timeout=600).raise_for_status()
        result = load_test(url, process.pid, models, args.clients, args.seconds)
    finally:
        process.terminate()
        process.wait(30)
    listing, memory, threads = result["listing"], result["memory"], result["threads"]
    print(
        f"\nload test: {args.clients} concurrent clients for {result['elapsed']:.1f} s on 127.0.0.1, /api/generate "
        f"stylegan2-32 (run folder and checkpoint file): {result['answered']} images "
        f"({result['answered'] / result['elapsed']:.1f}/s), {result['busy']} refused busy (503), "
        f"{result['failed']} failed {result['statuses'] or ''}; server from {args.server_src or 'this checkout'}"
    )
    if listing:
        p50, p99 = percentiles(listing)
        print(f"/api/runs meanwhile: {len(listing)} answers, p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    else:
        print("/api/runs meanwhile: no answer before the end of the test")
    print(
        f"server process: resident memory {memory[0]:.0f} MiB at start, {memory[1]:.0f} MiB peak, {memory[2]:.0f} MiB "
        f"at the end; threads {threads[0]} at start, {threads[1]} peak, {threads[2]} at the end"
    )
    return result["failed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50, help="Timed requests per endpoint.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients in the load test.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Load-test duration.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads.")
    parser.add_argument("--keep", type=Path, help="Train the models into this folder (reused when it has them).")
    parser.add_argument("--load-only", action="store_true", help="Only the load test (trains stylegan2-32 only).")
    parser.add_argument("--server-src", type=Path, help="Load test: run the server from this src/ folder.")
    parser.add_argument(
        "--server-threads",
        action="store_true",
        help="Load test: pass --threads to the server (else it picks its default).",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import httpx

    from ganforge.artifacts import load
    from ganforge.studio.render import generate_image, translate_image

    folder = args.keep or Path(tempfile.mkdtemp(prefix="studio-bench-"))
    existing = {p.name.split("-", 1)[1]: p for p in (folder / "runs").glob("0*")} if (folder / "runs").is_dir() else {}
    runs = train_models(folder, existing, only=["stylegan2-32"] if args.load_only else None)
    print(
        f"machine: {os.cpu_count()} cores, torch threads {args.threads}, load average before "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine is shared: absolute numbers are noisy)"
    )
    if args.load_only:
        sys.exit(1 if report_load(folder / "runs", runs["stylegan2-32"], args) else 0)

    memory_start = rss_mib()
    server, url = start_server(folder / "runs")
    session = httpx.Client(base_url=url, timeout=600)
    ids = {name: f"runs/{path.name}" for name, path in runs.items()}
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[40:220, 60:64] = sketch[120:124, 30:230] = 0
    buffer = io.BytesIO()
    Image.fromarray(sketch).save(buffer, format="PNG")
    sketch_png = buffer.getvalue()

    def http_generate(name):
        def call(seed):
            response = session.get(
                "/api/generate", params={"model": ids[name], "seed": seed, "truncation": 0.7, "stream": "bench"}
            )
            assert response.status_code == 200, response.text

        return call

    def http_translate(seed):
        response = session.post(
            "/api/translate",
            params={"model": ids["pix2pix-256"], "fit": "true"},
            files={"image": ("s.png", sketch_png, "image/png")},
        )
        assert response.status_code == 200, response.text

    generators = {name: load(path) for name, path in runs.items()}
    rows = []
    for label, http_call, direct_call in [
        (
            "dcgan-64 generate",
            http_generate("dcgan-64"),
            lambda seed: generate_image(generators["dcgan-64"], seed, truncation=0.7),
        ),
        (
            "stylegan2-32 generate",
            http_generate("stylegan2-32"),
            lambda seed: generate_image(generators["stylegan2-32"], seed, truncation=0.7),
        ),
        (
            "pix2pix-256 translate 256x256",
            http_translate,
            lambda seed: translate_image(generators["pix2pix-256"], sketch, fit=True),
        ),
    ]:
        direct_samples, direct_cpu = timed(direct_call, args.requests)
        http_samples, http_cpu = timed(http_call, args.requests)
        rows.append((label, percentiles(http_samples), http_cpu, percentiles(direct_samples), direct_cpu))
    print(
        f"\n{'endpoint':30s} {'HTTP p50':>9s} {'HTTP p99':>9s} {'CPU/req':>9s} {'direct p50':>11s} {'CPU/call':>9s} "
        f"{'HTTP/direct':>11s}  target (HTTP p50)"
    )
    for label, (p50, p99), cpu, (d50, _), d_cpu in rows:
        target = TARGETS_MS.get(label)
        verdict = "" if target is None else f"<= {target:.0f} ms: {'met' if p50 <= target else 'MISSED'}"
        print(
            f"{label:30s} {p50:7.1f}ms {p99:7.1f}ms {cpu * 1000:7.1f}ms {d50:9.1f}ms {d_cpu * 1000:7.1f}ms "
            f"{p50 / d50:10.2f}x  {verdict}"
        )
    print(
        "(CPU/req: CPU time of this process per request, all threads: what the request costs, less sensitive "
        "to other load than wall time)"
    )

    print(
        f"memory (RSS of this process, server included): {memory_start:.0f} MiB at start, {rss_mib():.0f} MiB "
        f"after the timed requests"
    )
    session.close()
    server.should_exit = True
    failed = report_load(folder / "runs", runs["stylegan2-32"], args)
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
