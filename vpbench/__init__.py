"""vpbench: a benchmark and leaderboard harness for video prediction.

`vpbench.run(RunConfig(...))` is the library call behind `vpbench run`.
"""

__version__ = "0.1.0"


def run(config):
    """Train (or resume), select on validation, evaluate on test, write records. See vpbench.engine.run."""
    from vpbench.engine.run import run as _run

    return _run(config)
