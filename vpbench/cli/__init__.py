"""The `vpbench` command line: parse, call the library, print with rich. Nothing else lives here.

Error contract (DESIGN.md): a user's mistake is one line on stderr and exit code 2, a failed run exit 1,
never a traceback; `--json` output is one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import signal
import sys

import rich.markup
import typer

from vpbench.cli.common import app, stderr
from vpbench.errors import VpbenchError, interrupted_outside_training

# Importing a command module registers its commands; `vpbench --help` lists them in this order.
# isort: off
from vpbench.cli import catalog, running, tables, figures, records  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: a user's mistake, ours or one click finds while parsing (a mistyped option, a missing
    value), becomes one line on stderr and exit code 2. SIGTERM ends a command as Ctrl-C does (exit 130, one
    line), unless the caller ignores it."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupted_outside_training)
    try:
        code = app(prog_name="vpbench", standalone_mode=False)  # click raises its errors, we print them
    except typer.TyperException as error:  # click's own (typer >= 0.29 vendors click under this base)
        if type(error).__name__ != "NoArgsIsHelpError":  # `vpbench plot` alone: its help is already printed
            stderr.print(f"[bold red]error:[/] {usage_error_line(error, sys.argv[1:])}", highlight=False)
        sys.exit(getattr(error, "exit_code", 2))
    except typer.Abort:
        stderr.print("aborted")
        sys.exit(1)
    except VpbenchError as error:
        stderr.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:  # outside the command (click turns one inside it into exit code 130)
        code = 130
    # No command returns a value: what comes back is the code of a `typer.Exit` (None when a command ends),
    # or 130 after a Ctrl-C.
    if code == 130:
        stderr.print("interrupted")
    sys.exit(code if isinstance(code, int) else 0)


def usage_error_line(error: typer.TyperException, words: list[str]) -> str:
    """`No such option: --seed (Possible options: --steps, --vs); see 'vpbench table --help'`: click's
    message, and where the command's options are listed. Click's parser raises some errors (`Option '--metric'
    requires an argument`) without the command's context, so then the command is read off the typed words."""
    message = rich.markup.escape(str(error.format_message()).strip().rstrip("."))
    context = getattr(error, "ctx", None)
    command_path = context.command_path if context is not None else typed_command_path(words)
    see = f"see '{rich.markup.escape(command_path)} --help'"
    return f"{message} {see.capitalize()}" if message.endswith("?") else f"{message}; {see}"


def typed_command_path(words: list[str]) -> str:
    """`vpbench plot horizon` for `plot horizon --metric`: the leading words that name (sub)commands."""
    command, path = typer.main.get_command(app), ["vpbench"]
    for word in words:
        command = getattr(command, "commands", {}).get(word)
        if command is None:
            break
        path.append(word)
    return " ".join(path)
