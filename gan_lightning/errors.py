"""The one exception type for bad input a user can fix."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input (a value, a path, a file) a user can fix. ``gan-train`` reports it as one
    line naming the value or the file, without a traceback, and exits with status 2."""


def find_user_error(err: BaseException | None) -> UserError | None:
    """The UserError behind ``err``, through wrappers such as Hydra's InstantiationException."""
    while err is not None:
        if isinstance(err, UserError):
            return err
        err = err.__cause__ or err.__context__
    return None
