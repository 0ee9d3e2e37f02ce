"""Messages for a person on stderr: red on a terminal, plain text in a pipe or a log file.

The text is never read as rich markup: an error quotes config values and paths, and a ``[`` in
them must print as written, not style (or swallow) the rest of the line. No wrapping either: a
field path split over two lines cannot be searched for.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text


def print_error(message: str) -> None:
    Console(file=sys.stderr, highlight=False, soft_wrap=True).print(Text(message, style="red"))


def print_info(message: str) -> None:
    Console(file=sys.stderr, highlight=False, soft_wrap=True).print(Text(message))
