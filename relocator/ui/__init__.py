"""Everything that writes to the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["print_error", "print_json", "print_text"]


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def print_text(text: str) -> None:
    """A line for humans on stdout."""
    sys.stdout.write(text + "\n")


def print_error(text: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    sys.stderr.write(f"relocator: error: {text}\n")
