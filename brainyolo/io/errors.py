"""One error type for bad input: it names the file and the problem in one line."""

from __future__ import annotations

import os


class BrainyoloError(Exception):
    """Bad input: a file that cannot be used, and why.

    The command line prints ``brainyolo: error: PATH: PROBLEM`` and exits non-zero.

    Parameters
    ----------
    path : str or os.PathLike or None
        The offending file (or folder); ``None`` when the problem is not about a file.
    problem : str
        What is wrong, in one line.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path is not None else self.problem


def one_line(err: BaseException | str, limit: int = 300) -> str:
    """An exception's message as one short line (h5py's "object 'x' doesn't exist" as "'x' is missing")."""
    import re

    text = " ".join(str(err).split()) or type(err).__name__
    missing = re.search(r"object '([^']*)' doesn't exist", text)
    if missing:
        text = f"'{missing.group(1)}' is missing"
    return text if len(text) <= limit else text[:limit] + " ..."
