"""The baseline zoo: one file per model, shared cells and blocks in `_`-prefixed modules.

Importing this package registers every model file in it (files starting with `_` hold shared pieces).
"""

from vpbench._discovery import import_submodules

import_submodules(__name__, __path__)
