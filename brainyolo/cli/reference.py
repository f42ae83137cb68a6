"""The CLI reference (``docs/cli-reference.md``) generated from the argument parser itself.

    python -m brainyolo.cli.reference > docs/cli-reference.md

A test compares the committed page with this output, so the page cannot fall behind the options.
"""

from __future__ import annotations

import os

from brainyolo.cli import COMMANDS, build_parser

WIDTH = 100
"""Columns of the help text (argparse reads them from ``$COLUMNS``)."""


def markdown() -> str:
    """Every command's ``--help``, as one Markdown page."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        parser = build_parser()
        commands = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001 - argparse's own
        parts = ["# CLI reference\n",
                 "Generated from the argument parser (`python -m brainyolo.cli.reference > docs/cli-reference.md`);",
                 "the same text as `brainyolo COMMAND --help`.\n", "```text", parser.format_help().rstrip(), "```\n"]
        for module in COMMANDS:
            name = module.__name__.rsplit(".", 1)[1].replace("_", "-")  # import_nir: import-nir
            parts += [f"## brainyolo {name}\n", "```text", commands[name].format_help().rstrip(), "```\n"]
        return "\n".join(parts)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


if __name__ == "__main__":
    print(markdown(), end="")
