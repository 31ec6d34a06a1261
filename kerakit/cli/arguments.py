"""Argument types shared by the commands: numbers are checked before anything runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers ``>= minimum``.

    argparse rejects anything else before the command starts, so nothing is
    written, trained or deleted for a bad number.

    Example:
        >>> int_at_least(1)("3")
        3
        >>> int_at_least(1)("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: Invalid value. Expected an int >= 1. Received: 0
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"Invalid value. Expected an int >= {minimum}. Received: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"Invalid value. Expected an int >= {minimum}. Received: {value}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def port_number(text: str) -> int:
    """An argparse ``type`` for a TCP port: 0 (any free port) to 65535.

    Example:
        >>> port_number("8501")
        8501
        >>> port_number("70000")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: Invalid value. Expected a port from 0 to 65535. Received: 70000
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"Invalid value. Expected a port from 0 to 65535. Received: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"Invalid value. Expected a port from 0 to 65535. Received: {value}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse ``type`` for a positive number of seconds.

    Example:
        >>> positive_seconds("2.5")
        2.5
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"Invalid value. Expected a positive number of seconds. Received: {text!r}")
    return value


def wait_seconds(text: str) -> float:
    """An argparse ``type`` for a finite number of seconds, 0 or more.

    Example:
        >>> wait_seconds("0.002")
        0.002

    Raises:
        argparse.ArgumentTypeError: naming the value received.
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"Invalid value. Expected a finite number of seconds, 0 or more. Received: {text!r}")
    return value


POSITIVE = int_at_least(1)
NON_NEGATIVE = int_at_least(0)
FOLDS = int_at_least(2)  # cross-validation needs two folds at least
