"""Request bodies for ``kerakit serve``: read up to a limit, parsed as JSON, depth checked.

Everything here raises :class:`~kerakit.errors.DataError` for a body the
client got wrong, which the server answers with HTTP 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kerakit.errors import DataError

__all__ = ["MAX_DEPTH", "check_depth", "check_nesting", "parse_body", "read_body"]

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
    _check_bare_depth(re.sub(rb'"(?:[^"\\]|\\.)*"', b"", body), limit)


def _check_bare_depth(bare: bytes, limit: int) -> None:
    """:func:`check_depth` on a body whose strings are removed."""
    import numpy as np

    brackets = np.frombuffer(bare.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not brackets.size:
        return
    depth = int(np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)).max())
    if depth > limit:
        raise DataError(f"Invalid request: the JSON is nested too deeply. Expected at most "
                        f"{limit} levels of arrays and objects. Received: {depth} levels")


def check_nesting(body: bytes, inputs: list[dict[str, Any]]) -> None:
    """Refuse, before parsing, a body with more arrays or objects than any request could hold.

    Parsing JSON costs about 50 times the body's size in memory when it is
    made of small arrays, whether or not their shape fits the model. What a
    request for these inputs may hold is known from the inputs alone: one row
    of an input shaped ``(d1, ..., dk)`` has ``d1 * ... * dk`` numbers in
    ``1 + d1 + d1*d2 + ...`` arrays, and a table row is one object of numbers
    (columns sent whole are one array each). A JSON body holds as many values
    as commas, plus one. Counting is a few passes over the bytes in C.
    Bodies holding a backslash are left to the parser (removing strings
    from them is not linear); so are inputs with unknown sizes.

    Example:
        >>> spec = {"name": "inputs", "shape": [None, 2]}
        >>> check_nesting(b'{"instances": [[1, 2], [3, 4]]}', [spec])

    Args:
        body: The request body.
        inputs: The export manifest's input specs.

    Raises:
        DataError: for a body that holds more arrays or objects than a request
            for these inputs can, naming both counts.
    """
    if b"\\" in body:
        return
    bare = re.sub(rb'"[^"]*"', b"", body)
    _check_bare_depth(bare, MAX_DEPTH)  # the clearer message for a body nested that deep
    values = bare.count(b",") + 1
    arrays, objects = bare.count(b"["), bare.count(b"{")
    if len(inputs) > 1:  # a table: each column is one value per row, or one array in all
        most_arrays, most_objects = len(inputs) + 3, None
    else:
        shape = inputs[0]["shape"][1:]
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            return
        numbers, per_row = 1, 0
        for d in shape:
            per_row += numbers
            numbers *= d
        most_arrays = values * (1 + per_row) // numbers + 4
        # :classify's `context` gives every example its input: examples may then be empty
        most_objects = None if b'"context"' in body else values // numbers + 4
    for what, count, most in (("arrays", arrays, most_arrays), ("objects", objects, most_objects)):
        if most is not None and count > most:
            raise DataError(f"Invalid request: the body holds {count} JSON {what} for {values} "
                            f"values, more than any request for this model's inputs can. "
                            f"Expected at most {most}. Received: {count}")
