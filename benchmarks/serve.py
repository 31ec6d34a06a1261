"""Load on `kerakit serve`: requests per second and latency, batched and not, against in-process.

A digits model (a small MLP) is trained and exported, then served by two
`kerakit serve` processes: one batching concurrent requests (`--max-batch`,
`--batch-timeout`; the defaults unless given), one with `--max-batch 1`
(batching off). Clients are threads, each with a keep-alive HTTP connection
(TCP_NODELAY), sending `:predict` requests in TF Serving's row format from
bodies encoded once up front, and decoding every answer.

- One-row requests from 1, 8 and 32 concurrent clients, against each server,
  and the in-process baseline: the same export's `serving_default` signature
  called directly in this process by as many threads, one request per call, on
  the same rows. The three sides take turns, a quarter of the requests each
  time and in the reverse order every other time, so that a drift in the
  machine's speed weighs on all of them alike.
- 64-row requests from `--clients` clients, against both servers and in-process.

Reported: requests/s, p50 and p99 latency of each side, the rows in the
batched server's signature calls on average (from its /metrics), and two targets as
ratios measured in this run: at 8 clients, the batched server's requests/s
over the in-process baseline's (target >= 1.0), and with 1 client, the
batched server's p99 over the unbatched one's (target <= 1.2: batching must
not make a lone client wait).

The clients run on the same machine as the servers and share its cores.

Usage: python benchmarks/serve.py [--requests 2000] [--clients 8] [--workers 1]
       [--max-batch N] [--batch-timeout SECONDS] [--export DIR] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx
import numpy as np
import tensorflow as tf

import kerakit as kk

WARMUP = 64  # requests per size before measuring: first calls build TensorFlow kernels
BIG_BATCH = 64
CLIENT_COUNTS = (1, 8, 32)
ROUNDS = 4  # turns each side takes, interleaved with the others'
TARGET_THROUGHPUT = 1.0  # at 8 clients: batched server req/s over in-process req/s, at least
TARGET_P99 = 1.2  # with 1 client: batched p99 over unbatched p99, at most


def make_export(root: Path, epochs: int) -> Path:
    decl = kk.Model(name="digits_mlp", inputs=(8, 8, 1), preprocess=["standardize"],
                    blocks=["flatten", kk.use("dense_block", units=64)],
                    head=kk.use("classifier", classes=10), epochs=epochs)
    run = kk.fit(decl, "digits", out=root / "run", verbose=0)
    return kk.export(run, root / "export").path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(export: Path, port: int, workers: int, *options: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", "serve", str(export), "--name",
                             "digits", "--port", str(port), "--workers", str(workers),
                             *options], stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("kerakit serve exited before answering")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models/digits").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("kerakit serve did not answer in 120 s")


def load(call: Callable[[int, int], None], requests: int, clients: int
         ) -> tuple[float, list[float]]:
    """Run ``call(client, i)`` ``requests`` times from ``clients`` threads: wall time, latencies."""
    latencies: list[float] = []
    lock, counter = threading.Lock(), iter(range(requests))

    def worker(client: int) -> None:
        own = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            start = time.perf_counter()
            call(client, i)
            own.append(time.perf_counter() - start)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def summary(walls: list[float], latencies: list[float]) -> dict[str, float]:
    ms = np.array(latencies) * 1000
    return {"requests_per_s": round(len(latencies) / sum(walls), 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def http_caller(url: str, bodies: list[bytes], clients: int) -> Callable[[int, int], None]:
    # Without TCP_NODELAY, the body waits for the ACK of the headers (Nagle and delayed
    # ACK: about 40 ms on Linux) whenever they go in separate writes.
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    # One keep-alive connection per client, opened in the warm-up and kept for the run.
    pool = [httpx.Client(base_url=url, timeout=60,
                         transport=httpx.HTTPTransport(socket_options=nodelay))
            for _ in range(clients)]
    headers = {"Content-Type": "application/json"}

    def call(client: int, i: int) -> None:
        response = pool[client].post("/v1/models/digits:predict",
                                     content=bodies[i % len(bodies)], headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"request failed: {response.status_code} {response.text[:300]}")
        response.json()

    return call


def in_process_caller(signature: Callable, batches: list[np.ndarray]
                      ) -> Callable[[int, int], None]:
    def call(client: int, i: int) -> None:
        signature(inputs=tf.constant(batches[i % len(batches)]))["outputs"].numpy()

    return call


def digits_batches(rows: int) -> list[np.ndarray]:
    x = kk.get_component("datasets", "digits").create().x_test.astype("float32")
    return [x[(i * rows) % (len(x) - rows):][:rows] for i in range(32)]


def compare(signature: Callable, urls: dict[str, str], rows: int, requests: int, clients: int,
            warmup: int) -> dict:
    """One request size and client count: each server, then the in-process baseline."""
    batches = digits_batches(rows)
    # Bodies are encoded once, up front: the clients share the server's cores, and encoding
    # JSON in them would be counted against the server.
    bodies = [json.dumps({"instances": b.tolist()}).encode() for b in batches]
    sides = {side: http_caller(url, bodies, clients) for side, url in urls.items()}
    sides["in_process"] = in_process_caller(signature, batches)
    for call in sides.values():
        load(call, warmup, clients)
    calls_before = batch_calls(urls["batched"])
    # The sides take turns, a quarter of the requests each time, in the reverse order every
    # other round: a machine whose speed drifts during the run weighs on every side alike.
    walls: dict[str, list[float]] = {side: [] for side in sides}
    latencies: dict[str, list[float]] = {side: [] for side in sides}
    for turn in range(ROUNDS):
        for side, call in list(sides.items())[::1 if turn % 2 == 0 else -1]:
            wall, measured = load(call, max(requests // ROUNDS, 1), clients)
            walls[side].append(wall)
            latencies[side] += measured
    calls, rows_called = (a - b for a, b in
                          zip(batch_calls(urls["batched"]), calls_before, strict=True))
    return {"rows_per_request": rows, "clients": clients,
            "requests": len(latencies["in_process"]),
            **{side: summary(walls[side], latencies[side]) for side in sides},
            "batched_rows_per_call": round(rows_called / calls, 2)}


def batch_calls(url: str) -> tuple[float, float]:
    """The batched server's signature calls so far, and their rows in all (from /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {"kerakit_serve_batch_rows_count": 0.0, "kerakit_serve_batch_rows_sum": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name] += sample.value
    return found["kerakit_serve_batch_rows_count"], found["kerakit_serve_batch_rows_sum"]


def targets(one_row: list[dict]) -> dict:
    """The two targets, as ratios of sides measured in this run."""
    by_clients = {r["clients"]: r for r in one_row}
    eight, one = by_clients[8], by_clients[1]
    throughput = eight["batched"]["requests_per_s"] / eight["in_process"]["requests_per_s"]
    p99 = one["batched"]["p99_ms"] / one["unbatched"]["p99_ms"]
    return {
        "throughput_8_clients_batched_over_in_process": {
            "ratio": round(throughput, 3), "target": f">= {TARGET_THROUGHPUT}",
            "met": throughput >= TARGET_THROUGHPUT},
        "p99_1_client_batched_over_unbatched": {
            "ratio": round(p99, 3), "target": f"<= {TARGET_P99}", "met": p99 <= TARGET_P99},
    }


def measure(args: argparse.Namespace, export: Path, warmup: int) -> dict:
    batching = [f"--max-batch={args.max_batch}"] if args.max_batch else []
    batching += [f"--batch-timeout={args.batch_timeout}"] if args.batch_timeout is not None \
        else []
    ports = {"batched": free_port(), "unbatched": free_port()}
    servers = [start_server(export, ports["batched"], args.workers, *batching),
               start_server(export, ports["unbatched"], args.workers, "--max-batch=1")]
    try:
        loaded = tf.saved_model.load(str(export))  # kept: its signature needs it alive
        signature = loaded.signatures["serving_default"]
        urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
        one_row = [compare(signature, urls, 1, args.requests, clients, warmup)
                   for clients in CLIENT_COUNTS]
        big = compare(signature, urls, BIG_BATCH, max(args.requests // 4, 40), args.clients,
                      warmup)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)
    return {"one_row": one_row, "big_requests": big, "targets": targets(one_row)}


def report(result: dict) -> None:
    print(f"{result['machine']}; load average {result['load_average_1min']}; batching "
          f"{result['batching']}")
    print("rows  clients  side         req/s   p50 ms  p99 ms")
    for r in [*result["one_row"], result["big_requests"]]:
        for side in ("batched", "unbatched", "in_process"):
            m = r[side]
            print(f"{r['rows_per_request']:>4}  {r['clients']:>7}  {side:<11}  "
                  f"{m['requests_per_s']:>7}  {m['p50_ms']:>6}  {m['p99_ms']:>6}")
        print(f"      the batched server's calls held {r['batched_rows_per_call']} rows on average")
    for name, t in result["targets"].items():
        print(f"{name}: {t['ratio']} (target {t['target']}: {'met' if t['met'] else 'MISSED'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="1-row requests per side")
    parser.add_argument("--clients", type=int, default=8, help="clients for 64-row requests")
    parser.add_argument("--workers", type=int, default=1, help="kerakit serve --workers")
    parser.add_argument("--max-batch", type=int, help="the batched server's --max-batch")
    parser.add_argument("--batch-timeout", type=float,
                        help="the batched server's --batch-timeout")
    parser.add_argument("--export", help="serve this export instead of training one")
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warmup = WARMUP
    if args.quick:
        args.requests, warmup = 160, 16
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(args.export) if args.export else make_export(Path(tmp),
                                                                   1 if args.quick else 5)
        measured = measure(args, export, warmup)
    from kerakit.deploy.batching import DEFAULT_BATCH_TIMEOUT, DEFAULT_MAX_BATCH

    result = {"machine": f"{os.cpu_count()} cores, TensorFlow {tf.__version__}",
              "load_average_1min": round(os.getloadavg()[0], 1),
              "server_workers": args.workers,
              "batching": {"max_batch": args.max_batch or DEFAULT_MAX_BATCH,
                           "batch_timeout": DEFAULT_BATCH_TIMEOUT if args.batch_timeout is None
                           else args.batch_timeout},
              **measured}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
