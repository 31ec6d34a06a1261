"""Taking part in a KerasTuner search run across machines: the chief or a worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kerakit.declaration.model import Model
from kerakit.errors import UsageError
from kerakit.tuning.budget import SearchClock
from kerakit.tuning.directory import start_tuning_dir
from kerakit.tuning.distributed import join_env
from kerakit.tuning.keras_tuner_engine import KerasTunerEngine, make_tuner
from kerakit.tuning.options import SearchOptions
from kerakit.tuning.search import out_directory, prepare


def join_search(decl: Model, data: Any, *, role: str, oracle: str | None = None,
                out: str | Path | None = None, seed: int | None = None,
                allow_remote_oracle: bool = False, directory: str | Path | None = None,
                **options: Any) -> None:
    """Take part in a search run across machines: serve the oracle, or run trials.

    The chief (``role="chief"``) serves KerasTuner's oracle over gRPC at
    ``oracle`` (``HOST:PORT``, or ``KERASTUNER_ORACLE_IP`` / ``_PORT``);
    workers (``role="worker"``) ask it for trials. Run :func:`kerakit.tune`
    on the chief's directory once they are done, to collect the outputs.

    KerasTuner's gRPC has no authentication, so the chief serves only on a
    loopback address unless ``allow_remote_oracle=True``; then bind it to a
    private network only.

    Example:
        >>> join_search(space, "digits", role="worker", oracle="10.0.0.1:8000")  # doctest: +SKIP

    Args:
        decl: The declaration with placeholders, the same on every machine.
        data: As for :func:`kerakit.tune`.
        role: ``"chief"`` or ``"worker"``.
        oracle: The chief's ``HOST:PORT``.
        out: The shared tuning directory; defaults to ``tuning/<name>``.
        seed: Overrides the declaration's seed.
        allow_remote_oracle: Let the chief serve on a non-loopback address.
        directory: Deprecated name of ``out``.
        **options: :class:`~kerakit.tuning.SearchOptions` fields.

    Raises:
        UsageError: for an unknown role or tuner, no oracle address, or a chief
            on a non-loopback address without ``allow_remote_oracle``.
    """
    if role == "chief" and not allow_remote_oracle:
        check_loopback(oracle)
    engine = KerasTunerEngine()
    search_options = SearchOptions(**options)
    tuner = search_options.tuner or engine.default_tuner
    engine.check_request(tuner, None, {})
    search = prepare(decl, data, SearchOptions(**{**options, "tuner": tuner}), seed=seed)
    folder = out_directory(out, directory, decl.name)
    start_tuning_dir(folder, overwrite=False)  # marked before anything is written
    search.clock = SearchClock.start(folder, search.options.time_budget, overwrite=False)
    with join_env(role, oracle):
        from kerakit.tuning.adapter import patched_keras_tuner

        with patched_keras_tuner():
            make_tuner(search, folder, overwrite=False).search(verbose=0)


def check_loopback(oracle: str | None) -> None:
    """Refuse a chief address other than loopback (``oracle`` or ``KERASTUNER_ORACLE_IP``).

    Example:
        >>> check_loopback("127.0.0.1:8000")

    Args:
        oracle: ``HOST:PORT``, or ``None`` to read ``KERASTUNER_ORACLE_IP``.

    Raises:
        UsageError: naming the address and the flag that allows it.
    """
    import ipaddress
    import socket

    host = oracle.rpartition(":")[0] if oracle else os.environ.get("KERASTUNER_ORACLE_IP", "")
    host = host.strip("[]")
    if not host:
        return  # no address at all: join_env says so
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name: what it resolves to
        try:
            address = ipaddress.ip_address(socket.gethostbyname(host)) if host else None
        except OSError:
            address = None
    if address is None or not address.is_loopback:
        raise UsageError(
            "Invalid oracle address for the chief. Expected a loopback address (127.0.0.1, "
            "localhost): KerasTuner's chief serves gRPC with no authentication. On a private "
            "network only, pass allow_remote_oracle=True (--allow-remote-oracle). "
            f"Received: oracle={oracle or host!r}")
