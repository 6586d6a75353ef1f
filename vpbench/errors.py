"""The one exception type that means "the user asked for something we cannot do".

The CLI turns it into a single line on stderr and exit code 2; anything else is a bug and keeps its
traceback. Messages say what was wrong *and* what to do about it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VpbenchError(Exception):
    """A user-facing error: bad name, missing or corrupt file, wrong shape. One line, actionable."""

    exit_code = 2


class RunFailed(VpbenchError):
    """A run started correctly but could not finish (NaN loss, out of memory): exit code 1."""

    exit_code = 1


class RunInterrupted(VpbenchError):
    """SIGINT/SIGTERM: the checkpoint is saved; the same command resumes (exit code 130, as for Ctrl-C)."""

    exit_code = 130


def interrupted_outside_training(signum, frame) -> None:
    """SIGTERM handler for whole commands: a `kill` while a command loads data or writes records is an
    interruption like Ctrl-C, not a death by signal (the trainer and the evaluator install their own handlers
    while they run, to checkpoint first; files are written atomically, so nothing is half-written)."""
    raise RunInterrupted("interrupted outside training and evaluation; run the same command again to resume")


def unknown_name(kind: str, name: str, valid: Iterable[str], owner: str = "") -> VpbenchError:
    """`unknown model 'convlstn'; did you mean 'convlstm'? Valid models: ...` — the error every registry raises;
    `owner` says whose (`unknown preset 'huge' of model 'zeros'. Valid presets: ...`)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    whose = f" of {owner}" if owner else ""
    kinds = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"  # suite entry -> suite entries
    return VpbenchError(f"unknown {kind} '{name}'{whose}{hint} Valid {kinds}: {', '.join(valid)}")
