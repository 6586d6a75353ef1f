"""`python -m vpbench` (and `torchrun -m vpbench`) runs the same CLI as the `vpbench` script."""

from vpbench.cli import main

main()
