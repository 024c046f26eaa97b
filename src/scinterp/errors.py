"""Errors that tell the user which dataset, which file and what to do."""

from __future__ import annotations


class ScinterpInputError(ValueError):
    """Bad input, raised before compute starts where possible.

    Parameters
    ----------
    problem
        What is wrong.
    dataset
        Name of the dataset in the config, if known.
    path
        File the problem was found in, if any.
    fix
        What the user should do about it.
    """

    def __init__(
        self, problem: str, *, dataset: str | None = None, path=None, fix: str | None = None
    ):
        self.problem = problem
        self.dataset = dataset
        self.path = None if path is None else str(path)
        self.fix = fix
        parts = []
        if dataset is not None:
            parts.append(f"dataset '{dataset}'")
        if self.path is not None:
            parts.append(f"file '{self.path}'")
        where = (", ".join(parts) + ": ") if parts else ""
        msg = where + problem
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)
