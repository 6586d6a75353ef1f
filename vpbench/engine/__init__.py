"""The engine: train (or resume) -> select on validation -> evaluate on test -> write records.

`vpbench.engine.run.run(RunConfig(...))` is the one library call behind `vpbench run`.
"""
