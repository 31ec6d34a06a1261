"""Request bodies for ``kerakit serve``: read up to a limit, parsed as JSON, depth checked.

Everything here raises :class:`~kerakit.errors.DataError` for a body the
client got wrong, which the server answers with HTTP 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kerakit.errors import DataError

__all__ = ["MAX_DEPTH", "check_depth", "parse_body", "read_body"]

# Levels of JSON arrays and objects a request may nest: NumPy's limit on an array's axes
MAX_DEPTH = 64
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# What a client may still be sending after the limit is crossed: read and dropped, so the
# client gets the 400 instead of a reset connection.
DISCARD_FACTOR = 8


async def read_body(request: Any, max_body: int) -> bytes:
    """The body of a Starlette request, refused past ``max_body`` bytes.

    Example:
        >>> body = await read_body(request, 10 * 2**20)  # doctest: +SKIP

    Args:
        request: The request.
        max_body: The largest body accepted, in bytes.

    Returns:
        The body.

    Raises:
        DataError: for a body over the limit, naming it and the size received.
    """
    length = request.headers.get("content-length", "")
    too_big = length.isdigit() and int(length) > max_body
    body, seen = bytearray(), 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_body * DISCARD_FACTOR:
            break
        if not too_big and seen <= max_body:
            body += chunk
        too_big = too_big or seen > max_body
    if too_big:
        raise DataError(f"Invalid request: the body is too large. Expected at most "
                        f"{max_body} bytes (--max-body). Received: {length or seen} bytes")
    return bytes(body)


def parse_body(body: bytes) -> Any:
    """The JSON in a request body, no deeper than :data:`MAX_DEPTH` levels.

    Example:
        >>> parse_body(b'{"instances": [[1.0, 2.0]]}')
        {'instances': [[1.0, 2.0]]}

    Args:
        body: The bytes received.

    Returns:
        The parsed JSON.

    Raises:
        DataError: for a body that is not JSON, or nested too deeply.
    """
    try:
        request = json.loads(body)
    except RecursionError as exc:
        raise DataError(f"Invalid request: the JSON is nested too deeply. Expected at most "
                        f"{MAX_DEPTH} levels of arrays and objects. Received: more than "
                        f"Python's parser takes") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"Invalid request: the body is not valid JSON. Expected a JSON "
                        f"object. Received: {exc}") from exc
    check_depth(body)  # on valid JSON only: every quote there opens a string that ends
    return request


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit``.

    What comes after the parser (NumPy, TensorFlow) recurses once per level.
    Brackets inside strings do not count. Call it on valid JSON only: there
    the string pattern matches each string once, in linear time (on arbitrary
    bytes, a run of escaped quotes would make it quadratic).

    Example:
        >>> check_depth(b'{"instances": [[1, "]]]"]]}', limit=3)

    Raises:
        DataError: naming the limit and the depth received.
    """
    import numpy as np

    bare = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", body)
    brackets = np.frombuffer(bare.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not brackets.size:
        return
    depth = int(np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)).max())
    if depth > limit:
        raise DataError(f"Invalid request: the JSON is nested too deeply. Expected at most "
                        f"{limit} levels of arrays and objects. Received: {depth} levels")
