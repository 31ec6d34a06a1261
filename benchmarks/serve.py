"""Load on `kerakit serve`: requests per second and latency, against the signature in-process.

A digits model (a small MLP) is trained and exported, then served by
`kerakit serve` in its own process. 8 concurrent clients (threads, each with a
keep-alive HTTP connection) send a fixed number of `:predict` requests in TF
Serving's row format, first with 1 row, then with 64 rows each. The baseline is
the same export's `serving_default` signature called directly in this process
by 8 threads, the same number of times, on the same rows. The clients send
request bodies encoded once up front (with TCP_NODELAY), and decode every answer.
Reported per request size: requests/s, p50 and p99 latency of both, and the
ratio of the server's requests/s to the in-process one (no target: this is
what HTTP and JSON cost).

The clients run on the same machine as the server and share its cores.

Usage: python benchmarks/serve.py [--requests 2000] [--clients 8] [--workers 1]
       [--export DIR] [--quick] [--json]
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


def start_server(export: Path, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", "serve", str(export), "--name",
                             "digits", "--port", str(port), "--workers", str(workers)],
                            stderr=subprocess.DEVNULL)
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


def load(call: Callable[[int, int], None], requests: int, clients: int) -> dict[str, float]:
    """Run ``call(client, i)`` ``requests`` times from ``clients`` threads; throughput, latency."""
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
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"requests_per_s": round(requests / wall, 1),
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


def in_process_caller(export: Path, batches: list[np.ndarray]) -> Callable[[int, int], None]:
    signature = tf.saved_model.load(str(export)).signatures["serving_default"]

    def call(client: int, i: int) -> None:
        signature(inputs=tf.constant(batches[i % len(batches)]))["outputs"].numpy()

    return call


def compare(export: Path, url: str, rows: int, requests: int, clients: int,
            warmup: int) -> dict:
    x = kk.get_component("datasets", "digits").create().x_test.astype("float32")
    batches = [x[(i * rows) % (len(x) - rows):][:rows] for i in range(32)]
    # Bodies are encoded once, up front: the clients share the server's cores, and encoding
    # JSON in them would be counted against the server.
    served = http_caller(url, [json.dumps({"instances": b.tolist()}).encode() for b in batches],
                         clients)
    direct = in_process_caller(export, batches)
    load(served, warmup, clients)
    load(direct, warmup, clients)
    server, baseline = load(served, requests, clients), load(direct, requests, clients)
    return {"rows_per_request": rows, "requests": requests, "server": server,
            "in_process": baseline,
            "ratio": round(server["requests_per_s"] / baseline["requests_per_s"], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="1-row requests")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="kerakit serve --workers")
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
        port = free_port()
        server = start_server(export, port, args.workers)
        try:
            url = f"http://127.0.0.1:{port}"
            rows = [compare(export, url, 1, args.requests, args.clients, warmup),
                    compare(export, url, BIG_BATCH, max(args.requests // 4, 40), args.clients,
                            warmup)]
        finally:
            server.terminate()
            server.wait(timeout=60)
    result = {"machine": f"{os.cpu_count()} cores, TensorFlow {tf.__version__}",
              "load_average_1min": round(os.getloadavg()[0], 1),
              "clients": args.clients, "server_workers": args.workers, "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("rows  requests  server req/s  p50 ms  p99 ms  in-process req/s  p50 ms  p99 ms  "
              "ratio")
        for r in rows:
            s, d = r["server"], r["in_process"]
            print(f"{r['rows_per_request']:>4}  {r['requests']:>8}  {s['requests_per_s']:>12}  "
                  f"{s['p50_ms']:>6}  {s['p99_ms']:>6}  {d['requests_per_s']:>16}  "
                  f"{d['p50_ms']:>6}  {d['p99_ms']:>6}  {r['ratio']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
