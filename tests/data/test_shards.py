"""Tar shards: `prepare --format shards` (index, sha256, tar and webdataset compatibility), the seeded global order
split over ranks and workers, exact resume at any world size, reading over HTTP, and bounded memory on a set larger
than the in-memory cache budget."""

from __future__ import annotations

import hashlib
import http.server
import json
import tarfile
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganforge.data as data_lib
from ganforge.artifacts import checkpoint as ckpt
from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import remote
from ganforge.data.folder import FolderDataset
from ganforge.data.prepare import prepare_dataset
from ganforge.data.sampler import batch_indices, batches
from ganforge.data.shards import INDEX_NAME, ShardDataset, buffer_shuffle
from ganforge.errors import DataError


def _noise_folder(root: Path, per_class: int, side: int = 24, classes=("cat", "dog")) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def shards(tmp_path) -> Path:
    """60 labelled 16x16 images in several shards of at most 12 kB."""
    source = _noise_folder(tmp_path / "src", 30)
    prepare_dataset(source, tmp_path / "shards", resolution=16, workers=1, format="shards", shard_bytes=12_000)
    return tmp_path / "shards"


def test_prepare_writes_tar_shards_with_an_index_of_counts_sizes_and_sha256(shards, tmp_path):
    index = json.loads((shards / INDEX_NAME).read_text())
    assert index["samples"] == 60 and index["class_names"] == ["cat", "dog"] and len(index["shards"]) > 3
    assert sum(s["samples"] for s in index["shards"]) == 60
    labels = []
    for entry in index["shards"]:
        path = shards / entry["name"]
        assert path.stat().st_size == entry["bytes"] <= 12_000
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        with tarfile.open(path) as tar:  # plain POSIX tar: KEY.png + KEY.cls per sample
            names = tar.getnames()
            assert len(names) == 2 * entry["samples"] and names[0].endswith(".png") and names[1].endswith(".cls")
            labels += [int(tar.extractfile(n).read()) for n in names if n.endswith(".cls")]
    assert sorted(labels) == [0] * 30 + [1] * 30
    assert labels[:12] != sorted(labels[:12])  # written in a shuffled order: the first shard has both classes
    assert not list(tmp_path.glob(".shards*"))  # no partial folder or lock left
    with pytest.raises(DataError, match="not an empty folder"):
        prepare_dataset(tmp_path / "src", shards, resolution=16, workers=1, format="shards")


def test_the_webdataset_package_reads_the_same_samples(shards):
    wds = pytest.importorskip("webdataset")
    index = json.loads((shards / INDEX_NAME).read_text())
    urls = [str(shards / s["name"]) for s in index["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb8"))
    ours = ShardDataset(str(shards))
    assert len(samples) == len(ours) == 60
    for i in (0, 17, 59):
        image, label = ours.image(i)
        assert np.array_equal(samples[i]["png"], image.permute(1, 2, 0).numpy()) and samples[i]["cls"] == label


def test_build_picks_shards_and_samples_match_the_source(shards, tmp_path):
    dataset = data_lib.build(DataConfig(source=str(shards)))
    folder = FolderDataset(tmp_path / "src", 16)
    assert isinstance(dataset, ShardDataset) and dataset.info.class_names == ("cat", "dog")
    # every shard sample is one of the source images (resized the same way), with its class
    source = {folder.image(i)[0].numpy().tobytes(): folder.image(i)[1] for i in range(len(folder))}
    assert all(source[dataset.image(i)[0].numpy().tobytes()] == dataset.image(i)[1] for i in range(60))


def test_eval_takes_shards_at_their_own_resolution(shards):
    from ganforge.metrics.evaluate import _own_size

    assert _own_size(str(shards), "--real") is None  # not read as a folder of images (it has none)


def test_epoch_order_is_seeded_shard_blocked_and_a_permutation(shards):
    dataset = ShardDataset(str(shards), shuffle_buffer=4)
    order = dataset.epoch_order(0, 0)
    assert sorted(order.tolist()) == list(range(60))
    assert torch.equal(order, ShardDataset(str(shards), shuffle_buffer=4).epoch_order(0, 0))
    assert not torch.equal(order, dataset.epoch_order(0, 1)) and not torch.equal(order, dataset.epoch_order(1, 0))
    first = dataset.shards[int(np.searchsorted(dataset.starts, int(order[0]), side="right")) - 1]
    assert all(dataset.starts[0] <= i for i in order[: first[1]])  # a whole shard is read before the next one
    shard_of = np.searchsorted(dataset.starts, order.numpy(), side="right")
    assert (np.diff(shard_of) != 0).sum() == len(dataset.shards) - 1


def test_buffer_shuffle_emits_each_item_once_and_keeps_locality():
    order = buffer_shuffle(5000, 100, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(5000))
    assert np.all(order[:4900] <= np.arange(4900) + 99)  # an item leaves only after it entered the buffer
    small = [buffer_shuffle(10, 100, np.random.default_rng(seed)) for seed in (3, 3, 4)]  # under the buffer size
    assert sorted(small[0].tolist()) == list(range(10)) and np.array_equal(small[0], small[1])
    assert not np.array_equal(small[0], small[2])


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_split_each_global_batch_and_resume_at_any_world_size(shards, world):
    """The ranks' slices make up the 1-rank stream (no overlap, nothing skipped), from any start batch: a run
    checkpointed at batch k at one world size continues with the same samples at another."""
    dataset = ShardDataset(str(shards))
    single = batch_indices(60, 8, 3, 0, epoch_order=dataset.epoch_order)
    expected = torch.cat([next(single) for _ in range(20)])  # 160 samples: across epochs 0, 1 and 2
    for start in (0, 5, 7):  # 5 * 8 = 40: mid-epoch; 7 * 8 = 56: a batch spanning two epochs
        streams = [dataset.index_batches(8, 3, start, rank, world) for rank in range(world)]
        got = torch.cat([torch.cat([next(s) for s in streams]) for _ in range(20 - start)])
        assert torch.equal(got, expected[start * 8 :])


def test_loader_workers_deliver_the_same_batches_as_the_main_process(shards):
    dataset = ShardDataset(str(shards))
    plain = batches(dataset, 8, seed=1, start_batch=3, rank=1, world=2)
    parallel = batches(dataset, 8, seed=1, start_batch=3, rank=1, world=2, workers=2)
    for _ in range(10):
        (a, la), (b, lb) = next(plain), next(parallel)
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_a_tampered_shard_or_index_is_a_clear_error(shards):
    index = json.loads((shards / INDEX_NAME).read_text())
    tar = shards / index["shards"][0]["name"]
    tar.write_bytes(b"\0" * 1024 + tar.read_bytes()[1024:])  # the first member's header is gone
    with pytest.raises(DataError, match="does not match its index"):
        ShardDataset(str(shards)).image(0)
    idx = shards / index["shards"][1]["index"]
    idx.write_bytes(idx.read_bytes()[:-8])
    with pytest.raises(DataError, match="sha256"):
        ShardDataset(str(shards)).image(index["shards"][0]["samples"])
    (shards / INDEX_NAME).write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a ganforge shard index"):
        ShardDataset(str(shards))


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; `failures` 503s first; `ignore_range` answers 200 with the whole file."""

    failures = 0
    ignore_range = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_error(503, "busy")
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "not found")
            return
        data = path.read_bytes()
        wanted = self.headers.get("Range")
        if wanted and not self.ignore_range:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            data = data[int(first) : int(last) + 1 if last else None]
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(shards, monkeypatch):
    """http://127.0.0.1:PORT serving the shards' parent folder."""
    monkeypatch.setattr(remote, "BACKOFF_S", 0.01)
    handler = type("Handler", (_RangeHandler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(shards.parent)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_shards_stream_over_http_with_retries(shards, server):
    url, handler = server
    handler.failures = 2  # two 503s, then answers: retried
    remote_set = data_lib.build(DataConfig(source=f"{url}/shards"))
    local = ShardDataset(str(shards))
    assert isinstance(remote_set, ShardDataset) and len(remote_set) == 60
    indices = next(remote_set.index_batches(16, 0, 2))
    assert all(torch.equal(a, b) for a, b in zip(remote_set.batch(indices), local.batch(indices)))


def test_http_errors_name_the_url_and_the_problem(shards, server, monkeypatch):
    url, handler = server
    with pytest.raises(DataError, match=r"/missing/index.json: HTTP 404"):
        ShardDataset(f"{url}/missing")
    handler.failures = 100
    with pytest.raises(DataError, match=r"failed after 5 attempts: HTTP 503"):
        ShardDataset(f"{url}/shards")
    handler.failures, handler.ignore_range = 0, True
    with pytest.raises(DataError, match="ignored the byte-range request"):
        ShardDataset(f"{url}/shards").image(0)
    with pytest.raises(DataError, match="only for this machine; use https"):
        remote.read_range("http://example.com/shards/index.json")


def test_a_whole_file_read_stops_at_its_bound(shards, server):
    """index.json and .idx files are read whole: over HTTP or from disk, no more than the bound is taken, and a
    larger file is refused naming it (a hostile server cannot make the reader hold an endless answer)."""
    url, _ = server
    big = shards.parent / "big.json"
    big.write_bytes(b" " * 5000)
    for where in (str(big), f"{url}/big.json"):
        with pytest.raises(DataError, match="big.json: larger than the 1000 bytes"):
            remote.read_range(where, most=1000)
        assert len(remote.read_range(where, most=5000)) == 5000


def test_object_store_urls_name_the_package_they_need(monkeypatch):
    import fsspec

    def missing(scheme, **_):
        raise ImportError(f"Install {remote.OBJECT_STORES[scheme]} to access {scheme}")

    monkeypatch.setattr(fsspec, "filesystem", missing)
    monkeypatch.setattr(remote, "_filesystems", {})
    for url, package in (("s3://bucket/shards", "s3fs"), ("gs://bucket/shards", "gcsfs")):
        with pytest.raises(DataError, match=rf"{url}/index.json: reading .* needs the {package} package"):
            data_lib.build(DataConfig(source=url))


def test_object_store_urls_read_byte_ranges_through_fsspec(shards, monkeypatch):
    """s3:// through fsspec's interface (cat_file with an exclusive end), served here from the local folder."""
    import fsspec

    class LocalBucket:
        def cat_file(self, url, start=None, end=None):
            return (shards.parent / url.removeprefix("s3://bucket/")).read_bytes()[start:end]

    monkeypatch.setattr(fsspec, "filesystem", lambda scheme, **_: LocalBucket())
    monkeypatch.setattr(remote, "_filesystems", {})
    stored, local = ShardDataset("s3://bucket/shards"), ShardDataset(str(shards))
    indices = torch.arange(0, 60, 7)
    assert all(torch.equal(a, b) for a, b in zip(stored.batch(indices), local.batch(indices)))


def test_prepare_cli_writes_shards_and_refuses_a_bad_size(tmp_path):
    source = _noise_folder(tmp_path / "src", 3)
    result = CliRunner().invoke(
        main,
        [
            "prepare",
            str(source),
            "--out",
            str(tmp_path / "out"),
            "--format",
            "shards",
            "--resolution",
            "16",
            "--workers",
            "1",
            "--shard-size",
            "5KB",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "6 images" in result.output and len(list((tmp_path / "out").glob("*.tar"))) >= 2
    bad = CliRunner().invoke(
        main, ["prepare", str(source), "--out", str(tmp_path / "o2"), "--format", "shards", "--shard-size", "lots"]
    )
    assert bad.exit_code != 0 and "--shard-size lots: not a size" in bad.output and not (tmp_path / "o2").exists()


@pytest.mark.slow
def test_a_set_larger_than_the_cache_budget_streams_with_bounded_memory(tmp_path, monkeypatch):
    """400 images, 32x32: 1.2 MB decoded against a 64 KB cache budget. The folder is not cached; shards are read
    sample by sample: through a whole epoch, at most a fifth of the set is allocated at once (about 0.12 MB: a few
    batches' decode buffers, the same for any set size)."""
    monkeypatch.setattr(data_lib, "CACHE_BUDGET_BYTES", 64 * 2**10)
    source = _noise_folder(tmp_path / "src", 200, side=48)
    folder = data_lib.build(DataConfig(source=str(source)))
    assert isinstance(folder, FolderDataset)  # over budget: decoded on access, not held in memory
    prepare_dataset(source, tmp_path / "shards", resolution=32, workers=1, format="shards", shard_bytes=200_000)
    dataset = data_lib.build(DataConfig(source=str(tmp_path / "shards")))
    decoded_bytes = len(dataset) * 3 * 32 * 32
    stream = batches(dataset, 16, seed=0, start_batch=0)
    next(stream)
    tracemalloc.start()
    seen = [next(stream)[0].shape[0] for _ in range(len(dataset) // 16 + 5)]  # a whole epoch and into the next
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sum(seen) > len(dataset) and peak < decoded_bytes / 5, (peak, decoded_bytes)


@pytest.mark.slow
def test_training_on_shards_resumes_exactly_mid_epoch(shards, tiny, tmp_path):
    """96 images in one go == 48 (mid-epoch of 60), then resumed for 48 more: identical weights."""
    from ganforge.training import train

    settings = {
        **tiny,
        "data.source": str(shards),
        "data.cond": True,
        "train.total_kimg": 0.096,
        "train.snapshot_every_kimg": 0.5,
    }
    whole = train(overrides={**settings, "train.out": str(tmp_path / "a")}, progress=False)
    train(overrides={**settings, "train.out": str(tmp_path / "b"), "train.total_kimg": 0.048}, progress=False)
    resumed = train(
        resume="auto", overrides={"train.out": str(tmp_path / "b"), "train.total_kimg": 0.096}, progress=False
    )
    a, b = ckpt.load(whole.checkpoint), ckpt.load(resumed.checkpoint)
    assert a["images_seen"] == b["images_seen"] == 96
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
