"""Argument types shared by the command groups."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """A ``YYYY-MM-DD`` argument; anything else is a usage error naming the value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
