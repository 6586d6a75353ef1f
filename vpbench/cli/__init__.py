"""The `vpbench` command line: parse, call the library, print with rich. Nothing else lives here.

Error contract (DESIGN.md): a user's mistake is one line on stderr and exit code 2, a failed run exit 1,
never a traceback; `--json` output is one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import signal
import sys

from vpbench.cli.common import app, stderr
from vpbench.errors import VpbenchError, interrupted_outside_training

# Importing a command module registers its commands; `vpbench --help` lists them in this order.
# isort: off
from vpbench.cli import catalog, running, tables, figures, records  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: user errors become one line on stderr and their exit code; click handles usage errors.
    SIGTERM ends a command as Ctrl-C does (exit 130, one line), unless the caller ignores it."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupted_outside_training)
    try:
        app()
    except VpbenchError as error:
        stderr.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
