"""Studio latency on this machine, through HTTP on 127.0.0.1 (uvicorn in this process, httpx clients):

- p50/p99 of /api/generate for dcgan-64 and stylegan2-32 (the slider-to-image path: request -> PNG bytes), and of
  /api/translate for a 256x256 sketch on a pix2pix-256 model;
- the same computations called directly (no HTTP, no PNG) in the same run, as the reference the HTTP path adds to;
- a bounded load test: N concurrent clients for T seconds on /api/generate (stylegan2-32): requests/s, errors
  (must be 0), and the process's resident memory before/after.

Models are untrained (one training step): latency does not depend on what the weights learnt.

    python bench/studio_latency.py [--requests 100] [--clients 8] [--seconds 10] [--threads 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
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


def train_models(out: Path, existing: dict[str, Path]) -> dict[str, Path]:
    """One-step runs (those not in `existing`): dcgan-64, stylegan2-32 (its preset), pix2pix-256 on random pairs."""
    import ganforge

    base = {"train.out": str(out / "runs"), "train.total_kimg": 0.004, "train.snapshot_every_kimg": 0.004,
            "train.grid_size": 4, "train.batch": 4}
    pairs = out / "pairs"
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (pairs / side).mkdir(parents=True, exist_ok=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(pairs / side / f"{index}.png")
    recipes = {
        "dcgan-64": ({"data.source": "shapes", "data.resolution": 64, "model.name": "dcgan"}, None),
        "stylegan2-32": ({"data.source": "shapes"}, "stylegan2-32"),
        "pix2pix-256": ({"data.source": str(pairs), "data.resolution": 256, "model.name": "pix2pix",
                         "train.batch": 2}, None),
    }
    runs = dict(existing)
    for name, (overrides, preset) in recipes.items():
        if name not in runs:
            runs[name] = ganforge.train(overrides={**base, **overrides, "train.name": name}, preset=preset,
                                        progress=False).run_dir
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


def load_test(url: str, model: str, clients: int, seconds: float) -> tuple[int, int, float]:
    """(requests, errors, elapsed s): `clients` threads requesting distinct seeds until the time is up."""
    import httpx

    counts, errors = [0] * clients, [0] * clients
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as session:
            seed = index * 1_000_000
            while time.perf_counter() < deadline:
                response = session.get("/api/generate", params={"model": model, "seed": seed})
                seed += 1
                counts[index] += 1
                errors[index] += response.status_code != 200 or response.headers["content-type"] != "image/png"

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), sum(errors), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50, help="Timed requests per endpoint.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients in the load test.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Load-test duration.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads.")
    parser.add_argument("--keep", type=Path, help="Train the models into this folder (reused when it has them).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import httpx

    from ganforge.artifacts import load
    from ganforge.studio.render import generate_image, translate_image

    folder = args.keep or Path(tempfile.mkdtemp(prefix="studio-bench-"))
    existing = {p.name.split("-", 1)[1]: p for p in (folder / "runs").glob("0*")} if (folder / "runs").is_dir() else {}
    runs = train_models(folder, existing)
    print(f"machine: {os.cpu_count()} cores, torch threads {args.threads}, load average before "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine is shared: absolute numbers are noisy)")

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
            response = session.get("/api/generate", params={"model": ids[name], "seed": seed, "truncation": 0.7,
                                                            "stream": "bench"})
            assert response.status_code == 200, response.text
        return call

    def http_translate(seed):
        response = session.post("/api/translate", params={"model": ids["pix2pix-256"], "fit": "true"},
                                files={"image": ("s.png", sketch_png, "image/png")})
        assert response.status_code == 200, response.text

    generators = {name: load(path) for name, path in runs.items()}
    rows = []
    for label, http_call, direct_call in [
        ("dcgan-64 generate", http_generate("dcgan-64"),
         lambda seed: generate_image(generators["dcgan-64"], seed, truncation=0.7)),
        ("stylegan2-32 generate", http_generate("stylegan2-32"),
         lambda seed: generate_image(generators["stylegan2-32"], seed, truncation=0.7)),
        ("pix2pix-256 translate 256x256", http_translate,
         lambda seed: translate_image(generators["pix2pix-256"], sketch, fit=True)),
    ]:
        direct_samples, direct_cpu = timed(direct_call, args.requests)
        http_samples, http_cpu = timed(http_call, args.requests)
        rows.append((label, percentiles(http_samples), http_cpu, percentiles(direct_samples), direct_cpu))
    print(f"\n{'endpoint':30s} {'HTTP p50':>9s} {'HTTP p99':>9s} {'CPU/req':>9s} {'direct p50':>11s} {'CPU/call':>9s} "
          f"{'HTTP/direct':>11s}  target (HTTP p50)")
    for label, (p50, p99), cpu, (d50, _), d_cpu in rows:
        target = TARGETS_MS.get(label)
        verdict = "" if target is None else f"<= {target:.0f} ms: {'met' if p50 <= target else 'MISSED'}"
        print(f"{label:30s} {p50:7.1f}ms {p99:7.1f}ms {cpu * 1000:7.1f}ms {d50:9.1f}ms {d_cpu * 1000:7.1f}ms "
              f"{p50 / d50:10.2f}x  {verdict}")
    print("(CPU/req: CPU time of this process per request, all threads: what the request costs, less sensitive "
          "to other load than wall time)")

    memory_before = rss_mib()
    requests, errors, elapsed = load_test(url, ids["stylegan2-32"], args.clients, args.seconds)
    memory_after = rss_mib()
    print(f"\nload test: {args.clients} concurrent clients for {elapsed:.1f} s on 127.0.0.1, /api/generate "
          f"stylegan2-32: {requests} requests, {requests / elapsed:.1f} requests/s, {errors} errors")
    print(f"memory (RSS of this process, server included): {memory_start:.0f} MiB at start, {memory_before:.0f} MiB "
          f"before the load test, {memory_after:.0f} MiB after")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    session.close()
    server.should_exit = True
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
