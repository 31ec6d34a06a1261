"""Distributed tuning: a KerasTuner chief and N worker processes.

KerasTuner's own distributed mode does the work: the chief serves the oracle
over gRPC and each worker asks it for trials. On one machine,
:func:`run_search_workers` writes the checked search (declaration, options,
data) into the tuning directory once, then starts ``python -m
kerakit.tuning.worker DIR`` as the chief and the workers, with
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` set. It picks a free port for every job (gRPC's
``SO_REUSEPORT`` would let a second chief share a busy one), gives each worker
its own GPU when there are GPUs, prefixes and forwards their output, reports a
worker's failure, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kerakit.errors import DeclarationError, KerakitError, UsageError
from kerakit.tuning.directory import check_tuning_dir, start_tuning_dir
from kerakit.tuning.handoff import write_spec

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search

CHIEF_GRACE_SECONDS = 30


def run_search_workers(search: Search, directory: Path, workers: int, *,
                       overwrite: bool = False) -> None:
    """Run a checked search in ``workers`` processes and a chief on this machine; wait.

    The parent checked the declaration, the data and the objective once; the
    processes read them from ``DIR/.kerakit_search/`` and never re-derive them.

    Raises:
        DeclarationError: if the declaration holds live objects that cannot
            reach another process.
        KerakitError: if a worker or the chief fails.
    """
    spec = search.decl.to_dict()
    if "\"live\"" in json.dumps(spec):
        raise DeclarationError(
            "Invalid declaration for tuning workers. Expected components by name (they are "
            "sent to other processes as JSON). Received: a live Python object; use kk.use(...)"
        )
    if overwrite and directory.exists():
        check_tuning_dir(directory, overwrite)
        shutil.rmtree(directory)
        start_tuning_dir(directory, overwrite=False)  # marked again before anything is written
    write_spec(search, directory)
    run_local_cluster(["-m", "kerakit.tuning.worker", str(directory)], workers)


@contextlib.contextmanager
def join_env(role: str, oracle: str | None) -> Iterator[None]:
    """KerasTuner's distributed-mode variables for a chief or a worker, for one search.

    Raises:
        UsageError: for an unknown role, or no oracle address.
    """
    if role not in ("chief", "worker"):
        raise UsageError("Invalid value for argument `role`. Expected 'chief' or 'worker'. "
                         f"Received: role={role!r}")
    env = {}
    if oracle:
        host, _, port = oracle.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError("Invalid value for argument `oracle`. Expected HOST:PORT. "
                             f"Received: oracle={oracle!r}")
        env["KERASTUNER_ORACLE_IP"], env["KERASTUNER_ORACLE_PORT"] = host, port
    if not (env or os.environ.get("KERASTUNER_ORACLE_IP")) or not (
            env or os.environ.get("KERASTUNER_ORACLE_PORT")):
        raise UsageError("Invalid value for argument `oracle`. Expected HOST:PORT (--oracle), "
                         "or KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set. "
                         "Received: oracle=None")
    if role == "chief":
        env["KERASTUNER_TUNER_ID"] = "chief"
    elif "chief" in os.environ.get("KERASTUNER_TUNER_ID", "chief"):
        env["KERASTUNER_TUNER_ID"] = f"worker-{socket.gethostname()}-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gpu_count() -> int:
    """Number of NVIDIA GPUs visible through ``nvidia-smi``, 0 without it."""
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def worker_env(base: dict[str, str], tuner_id: str, port: int, gpu: int | None) -> dict[str, str]:
    """The environment of one process of a local cluster: KerasTuner's variables and its GPU."""
    env = {**base, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(port)}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def run_local_cluster(command: Sequence[str], workers: int) -> None:
    """Run ``command`` as a chief and ``workers`` workers on this machine; wait for them.

    Args:
        command: The arguments after ``python`` that every process runs.
        workers: Number of worker processes (>= 1).

    Raises:
        KerakitError: if a worker or the chief fails; the others are stopped.
    """
    if workers < 1:
        raise UsageError("Invalid value for argument `workers`. Expected an int >= 1. "
                         f"Received: workers={workers!r}")
    port, gpus = free_port(), gpu_count()
    base = dict(os.environ)
    argv = [sys.executable, *command]
    chief = _start("chief", argv, worker_env(base, "chief", port, None))
    time.sleep(1.0)  # let the chief bind its port before workers knock
    crew = [_start(f"tuner{i}", argv, worker_env(base, f"tuner{i}", port,
                                                 i % gpus if gpus else None))
            for i in range(workers)]
    everyone = [chief, *crew]
    try:  # Ctrl-C reaches every process of the group; the finally stops the rest
        failed = _wait_workers(crew, chief)
        if failed:
            raise KerakitError(failed)
        deadline = time.time() + CHIEF_GRACE_SECONDS
        while chief.poll() is None and time.time() < deadline:
            time.sleep(0.5)
    finally:
        for proc in everyone:
            if proc.poll() is None:
                proc.terminate()
        for proc in everyone:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_workers(crew: list[subprocess.Popen], chief: subprocess.Popen) -> str | None:
    while True:
        codes = [p.poll() for p in crew]
        for proc, code in zip(crew, codes, strict=True):
            if code not in (None, 0):
                return f"Distributed tuning failed: worker {proc.args_name} exited with {code}."
        if chief.poll() not in (None, 0):
            return f"Distributed tuning failed: the chief exited with {chief.returncode}."
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.5)


def _start(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    proc.args_name = name  # type: ignore[attr-defined]
    threading.Thread(target=_forward, args=(proc, name), daemon=True).start()
    return proc


def _forward(proc: subprocess.Popen, name: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(f"[{name}] {line}")
    sys.stderr.flush()
