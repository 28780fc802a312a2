"""Failures reported as one line, without a traceback."""

from __future__ import annotations


class ReportedError(Exception):
    """A failure ``gan-train`` reports as ``error: <message>`` and exit status ``exit_code``."""

    exit_code = 1


class UserError(ReportedError, ValueError):
    """Bad input (a value, a path, a file) a user can fix; exit status 2."""

    exit_code = 2


class TrainingError(ReportedError):
    """Training had to stop (a diverged loss, a checkpoint that could not be written); exit 1."""


def find_reported_error(err: BaseException | None) -> ReportedError | None:
    """The ReportedError behind ``err``, through wrappers such as Hydra's InstantiationException."""
    while err is not None:
        if isinstance(err, ReportedError):
            return err
        err = err.__cause__ or err.__context__
    return None
