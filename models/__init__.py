"""SRVP, the model under study, and its registered ablations."""

from vpbench._discovery import import_submodules

import_submodules(__name__, __path__)
