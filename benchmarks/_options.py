"""The command line every benchmark shares. Through argparse, so ``--help`` prints the
benchmark's description and a mistyped option is refused in one line, instead of being
ignored and starting the full run, which takes minutes."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser(description: str | None) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--short", action="store_true", help="a quick run printing the same figures (CI runs it)")
    return options


def short_mode(description: str | None) -> bool:
    """Whether ``--short`` was given, for a benchmark with no other option."""
    return bool(parser(description).parse_args().short)


def existing_folder(text: str) -> Path:
    folder = Path(text)
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: name an existing folder")
    return folder
