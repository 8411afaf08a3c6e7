"""Past one machine, with torchrun's own machinery on CPU (gloo, 127.0.0.1 only): two node processes joined by a
c10d rendezvous train exactly as four ranks on one node; a rank whose data ends first does not hang the others;
a rank killed with SIGKILL under --max-restarts is restarted from the newest checkpoint and the run ends exactly as
an uninterrupted one; a run checkpointed with 4 ranks resumes with 2 and with 1."""

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge.artifacts import checkpoint as ckpt
from ganforge.data.sampler import batch_indices

from ..conftest import tiny_cli_flags

SRC = str(Path(__file__).parents[2] / "src")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}
# a tiny DCGAN with ADA, so that p is part of the state compared; 16 images a step
TINY_ARGS = [
    *tiny_cli_flags("digits"),
    "--model",
    "dcgan",
    "--augment",
    "ada",
    "--ada-kimg",
    "0.1",
    "--grid",
    "4",
    "--no-progress",
    "--no-tensorboard",
]
STATE_KEYS = ("G", "D", "G_ema", "opt_G", "opt_D", "augment")  # what "the same result" compares
TIMEOUT = 300
ELASTIC_ENV = {
    "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"
}  # a fresh store per attempt (see docs/scale.md, elastic restarts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*launch: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *launch]


def node(port: int, nprocs: int, run_id: str) -> list[str]:
    """The launch flags of one node process of a two-node job (c10d rendezvous on 127.0.0.1:port)."""
    return torchrun(
        "--nnodes",
        "2",
        "--nproc-per-node",
        str(nprocs),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        run_id,
    )


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_two_nodes(commands: list[list[str]]) -> None:
    """Both node processes at once; each must exit 0."""
    procs = [
        subprocess.Popen(c, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands
    ]
    outputs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-4000:]


def final_state(out: Path) -> dict:
    runs = sorted(out.glob("0000*"))
    assert len(runs) == 1, runs
    return ckpt.load(ckpt.list_checkpoints(runs[0])[-1])


def assert_same_state(a: dict, b: dict) -> None:
    """Bit-identical networks, EMA, optimiser and augmentation state, and the same progress."""
    assert (a["step"], a["images_seen"]) == (b["step"], b["images_seen"])
    for part in STATE_KEYS:
        flat_a, flat_b = flat_state(a[part]), flat_state(b[part])
        assert flat_a.keys() == flat_b.keys(), part
        for key in flat_a:
            assert torch.equal(flat_a[key], flat_b[key]), f"{part}.{key}"


def flat_state(value, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor (and number, as a tensor) in a nested state dict, by dotted path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flat_state(item, f"{prefix}{key}.").items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, item in enumerate(value) for k, v in flat_state(item, f"{prefix}{i}.").items()}
    if isinstance(value, (int, float)):
        return {prefix: torch.tensor(value)}
    return {prefix: value} if isinstance(value, torch.Tensor) else {}


@pytest.mark.slow
def test_two_nodes_of_two_ranks_train_as_four_ranks_on_one_node(tmp_path):
    args = [*TINY_ARGS, "--kimg", "0.064", "--snapshot-kimg", "1"]
    run(
        torchrun(
            "--standalone", "--nproc-per-node", "4", "-m", "ganforge", "train", *args, "--out", str(tmp_path / "one")
        )
    )
    # each node gets its own --out, as nodes without a shared disk would: only global rank 0's node writes
    port = free_port()
    run_two_nodes(
        [
            node(port, 2, "multinode") + ["-m", "ganforge", "train", *args, "--out", str(tmp_path / name)]
            for name in ("node-a", "node-b")
        ]
    )
    written = [name for name in ("node-a", "node-b") if (tmp_path / name).exists()]
    assert len(written) == 1, written  # which node process holds rank 0 is the rendezvous's choice
    two_nodes, one_node = final_state(tmp_path / written[0]), final_state(tmp_path / "one")
    assert two_nodes["images_seen"] == 64
    assert_same_state(two_nodes, one_node)


@pytest.mark.slow
def test_a_rank_whose_data_ends_first_stops_every_rank(tmp_path):
    """Rank 1's stream ends after 2 batches, rank 0's after 5: both stop after 2, with one final checkpoint."""
    worker = str(Path(__file__).with_name("uneven_worker.py"))
    port = free_port()
    run_two_nodes([node(port, 1, "uneven") + [worker, str(tmp_path)] for _ in range(2)])
    state = final_state(tmp_path)
    assert (state["step"], state["images_seen"]) == (2, 32)
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)


def worker_pid(agent: int, rank: int) -> int | None:
    """The pid of the training process with global `rank` that torchrun's agent `agent` started (None if none)."""
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == agent
                and f"RANK={rank}".encode() in (entry / "environ").read_bytes().split(b"\0")
            ):
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


@pytest.mark.slow
def test_a_killed_rank_restarts_from_the_newest_checkpoint_and_ends_as_if_uninterrupted(tmp_path):
    args = [*TINY_ARGS, "--kimg", "0.96", "--snapshot-kimg", "0.16", "--keep", "20"]  # 60 steps, 6 checkpoints
    reference = tmp_path / "reference"
    run(torchrun("--standalone", "--nproc-per-node", "2", "-m", "ganforge", "train", *args, "--out", str(reference)))
    out = tmp_path / "elastic"
    agent = subprocess.Popen(
        torchrun(
            "--standalone",
            "--nproc-per-node",
            "2",
            "--max-restarts",
            "1",
            "-m",
            "ganforge",
            "train",
            *args,
            "--resume",
            "auto",
            "--out",
            str(out),
        ),
        env={**ENV, **ELASTIC_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while not list(out.glob("0000*/checkpoint-*.pt")) and agent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    at_kill = [p.name for p in out.glob("0000*/checkpoint-*.pt")]
    victim = worker_pid(agent.pid, rank=1)
    assert victim is not None, "rank 1 was not found"
    os.kill(victim, signal.SIGKILL)
    output = agent.communicate(timeout=TIMEOUT)[0]
    assert agent.returncode == 0, output[-4000:]
    assert len(at_kill) < 6, f"the run had ended before the kill: {at_kill}"
    assert "exitcode: -9" in output, output[-3000:]  # torchrun saw the kill (and restarted: it finished with rc 0)
    assert len(list(out.glob("0000*"))) == 1  # the restart continued the run rather than starting another
    assert_same_state(final_state(out), final_state(reference))


def test_the_global_sample_order_does_not_depend_on_the_world_size():
    """Global batch b is the same images in the same order for 1, 2 and 4 ranks (rank r holds slice r), from any
    starting batch: the data position is counted in global batches."""

    def global_batches(world: int, start: int, count: int) -> list[list[int]]:
        streams = [batch_indices(37, 8, seed=3, start_batch=start, rank=r, world=world) for r in range(world)]
        return [torch.cat([next(s) for s in streams]).tolist() for _ in range(count)]

    one = global_batches(1, 0, 12)  # 96 samples: across two epoch boundaries of 37
    assert global_batches(2, 0, 12) == one == global_batches(4, 0, 12)
    assert global_batches(4, 5, 7) == one[5:] == global_batches(2, 5, 7)


@pytest.mark.slow
def test_a_run_checkpointed_with_four_ranks_resumes_with_two_and_with_one(tmp_path):
    args = [*TINY_ARGS, "--snapshot-kimg", "1"]
    run(
        torchrun(
            "--standalone",
            "--nproc-per-node",
            "4",
            "-m",
            "ganforge",
            "train",
            *args,
            "--kimg",
            "0.064",
            "--out",
            str(tmp_path / "four"),
        )
    )
    start = final_state(tmp_path / "four")
    lrs = {name: [g["lr"] for g in start[name]["param_groups"]] for name in ("opt_G", "opt_D")}
    for ranks in (2, 1):
        copy = tmp_path / f"resumed-{ranks}"
        subprocess.run(["cp", "-r", str(tmp_path / "four"), str(copy)], check=True)
        launch = torchrun("--standalone", "--nproc-per-node", str(ranks)) if ranks > 1 else [sys.executable]
        run(
            [
                *launch,
                "-m",
                "ganforge",
                "train",
                "--resume",
                "auto",
                "--out",
                str(copy),
                "--kimg",
                "0.128",
                "--no-progress",
                "--no-tensorboard",
            ]
        )
        state = final_state(copy)
        assert (state["step"], state["images_seen"]) == (8, 128)  # 4 more global batches of 16
        assert state["config"]["train"]["batch"] == 16
        assert {name: [group["lr"] for group in state[name]["param_groups"]] for name in lrs} == lrs
        assert int(state["opt_G"]["state"][0]["step"]) == 8  # Adam continued from the checkpoint's moments
        assert not torch.equal(state["G"]["stem.weight"], start["G"]["stem.weight"])


@pytest.mark.slow
def test_finite_data_ends_a_single_process_run_with_a_final_checkpoint(tiny, monkeypatch):
    import ganforge
    from ganforge.training import loop

    endless = loop.batches
    monkeypatch.setattr(loop, "batches", lambda *args, **kwargs: itertools.islice(endless(*args, **kwargs), 3))
    result = ganforge.train(
        overrides={**tiny, "data.source": "digits", "train.total_kimg": 1.0}, progress=False, tensorboard=False
    )
    state = ckpt.load(result.checkpoint)
    assert (state["step"], state["images_seen"], result.kimg) == (3, 48, 0.048)
    assert result.grid.name == "final.png"


def test_until_any_ends_passes_a_stream_through_in_one_process():
    from ganforge.dist import until_any_ends

    assert list(until_any_ends(iter([(1,), (2,), (3,)]), torch.device("cpu"))) == [(1,), (2,), (3,)]


def test_a_warning_names_the_setting_that_lets_torchrun_restart(monkeypatch):
    from ganforge.dist import restarts_share_a_store

    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "3")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")  # what torchrun sets unless the setting is 1
    assert restarts_share_a_store()
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")
    assert not restarts_share_a_store()
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "0")
    assert not restarts_share_a_store()


@pytest.mark.slow
def test_a_stylegan2_run_of_two_ranks_resumes_bit_identically(tmp_path):
    """Per-rank state (the path-length mean of each rank) is gathered into the checkpoint and given back to each
    rank, so stopping and resuming a 2-rank run changes nothing."""
    args = [
        "--data",
        "digits",
        "--resolution",
        "16",
        "--model",
        "stylegan2",
        "--g-channels",
        "8",
        "--d-channels",
        "8",
        "--w-dim",
        "16",
        "--z-dim",
        "16",
        "--mapping-layers",
        "2",
        "--pl-weight",
        "2",
        "--pl-interval",
        "2",
        "--r1-interval",
        "2",
        "--batch",
        "8",
        "--augment",
        "ada",
        "--ada-kimg",
        "0.1",
        "--grid",
        "4",
        "--snapshot-kimg",
        "0.032",
        "--no-progress",
        "--no-tensorboard",
    ]
    two = torchrun("--standalone", "--nproc-per-node", "2", "-m", "ganforge", "train", *args)
    run([*two, "--kimg", "0.064", "--out", str(tmp_path / "straight")])
    run([*two, "--kimg", "0.032", "--out", str(tmp_path / "resumed")])
    run([*two, "--kimg", "0.064", "--resume", "auto", "--out", str(tmp_path / "resumed")])
    straight, resumed = final_state(tmp_path / "straight"), final_state(tmp_path / "resumed")
    assert resumed["step"] == 8 and len(resumed["pl_mean_ranks"]) == 2
    assert not torch.equal(resumed["pl_mean_ranks"][0], resumed["pl_mean_ranks"][1])  # each rank has its own
    assert_same_state(straight, resumed)
    assert torch.equal(straight["pl_mean_ranks"], resumed["pl_mean_ranks"])
