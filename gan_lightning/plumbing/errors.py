"""Failures reported as one line, without a traceback, with one exit status per kind:

    2    bad input: a value, a path, a file, a config key the user can fix
    1    failed work: a diverged run, a checkpoint that could not be written, anything else
    130  Ctrl-C (SIGINT), 143 SIGTERM: 128 + the signal's number, as a shell reports it

Every command (gan-train, gan-sample, gan-eval, gan-sweep-summary, the benchmark) runs its
main function through ``command``. ``GAN_LIGHTNING_DEBUG=1`` lets unexpected errors raise,
traceback and all.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from gan_lightning.plumbing.startup import mark_command

DEBUG_ENV = "GAN_LIGHTNING_DEBUG"


class ReportedError(Exception):
    """A failure reported as ``error: <message>`` with exit status ``exit_code``."""

    exit_code = 1


class UserError(ReportedError, ValueError):
    """Bad input (a value, a path, a file) a user can fix; exit status 2."""

    exit_code = 2


class TrainingError(ReportedError):
    """Training had to stop (a diverged loss, a checkpoint that could not be written); exit 1."""


class Interrupted(ReportedError):
    """A signal stopped the command; exit status 128 + its number (130 Ctrl-C, 143 SIGTERM)."""

    def __init__(self, signum: int, message: str, metrics: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)
        self.metrics = metrics  # set when the run had reached its limits: its result to record


class Aborted(BaseException):
    """A second signal: the command stops at once, nothing saved; exit status 128 + its number.
    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on its way (logging's
    own error handler, should the signal land while a line is written) can swallow it."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def chain(err: BaseException | None, context: bool = True) -> Iterator[BaseException]:
    """``err``, then its cause (or, with ``context``, the exception it was raised while handling),
    and so on, each exception once: a chain may loop back on itself, and a walk that followed it
    blindly would never end."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or (err.__context__ if context else None)


def find_reported_error(err: BaseException | None) -> ReportedError | None:
    """The ReportedError behind ``err``, through wrappers such as Hydra's InstantiationException."""
    return next((e for e in chain(err) if isinstance(e, ReportedError)), None)


def _hydra_message(err: BaseException) -> str:
    """Hydra's multi-line composition errors as one line."""
    lines = [line.strip().rstrip(".") for line in str(err).splitlines() if line.strip()]
    options = getattr(err, "options", None)  # a config group's choices, for a name it does not hold
    if options:
        return f"{lines[0]}; the options are {', '.join(options)}"
    cause = err.__cause__
    if cause is not None and type(cause).__module__.startswith("omegaconf"):
        lines += [line.strip() for line in str(cause).splitlines()[:1]]
    return "; ".join(line for line in lines if not line.startswith(("full_key", "object_type")))


def describe(err: BaseException) -> tuple[int, str]:
    """(exit status, the one line to print) for any error a command can end with."""
    if isinstance(err, KeyboardInterrupt):
        return 130, "Interrupted"
    if isinstance(err, Aborted):
        return err.exit_code, str(err)
    reported = find_reported_error(err)
    if isinstance(reported, Interrupted):
        return reported.exit_code, str(reported)
    if reported is not None:
        return reported.exit_code, f"error: {reported}"
    if type(err).__module__.startswith("hydra") and type(err).__name__ != "InstantiationException":
        return 2, f"error: {_hydra_message(err)}"
    *_, err = chain(err, context=False)  # the root cause, not a wrapper such as Hydra's InstantiationException
    text = str(err).strip().splitlines()
    hint = f" (unexpected: {DEBUG_ENV}=1 shows the traceback)"
    return 1, f"error: {type(err).__name__}" + (f": {text[0]}" if text else "") + hint


def debugging(err: BaseException) -> bool:
    """Whether ``err`` should show its traceback: an unexpected error with GAN_LIGHTNING_DEBUG=1."""
    unexpected = find_reported_error(err) is None and not isinstance(err, KeyboardInterrupt | Aborted)
    return unexpected and os.environ.get(DEBUG_ENV) == "1"


def exit_with(err: BaseException) -> NoReturn:
    status, line = describe(err)
    print(line, file=sys.stderr)
    sys.exit(status)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit status 2) like every other bad input."""

    def __init__(self, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see {self.prog} --help)")


def command(main: Callable[..., Any]) -> Callable[..., Any]:
    """A command's entry point: any failure ends it with one line and its exit status."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        mark_command()  # its process is its own: Lightning loads quicker (startup.py)
        try:
            return main(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as err:  # noqa: BLE001 - every failure becomes one line
            if debugging(err):
                raise
            exit_with(err)

    return run
