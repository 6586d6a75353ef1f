"""An append-only table of equally shaped rows, stored in large preallocated blocks.

Why this module exists: the accumulator keeps a few things per sequence (per-sequence values; for
srvp-paper, the uint8 frames). Keeping one small array per batch for the whole run fragmented the heap
between the large temporaries of the metric arithmetic: resident memory grew ~30 KB per sequence for 36
bytes of per-sequence values, and 2.5x the size of srvp-paper's buffers. Rows here go into blocks of
about 64 MiB made with np.empty — large enough to be their own memory mapping, and only the pages
actually written become resident — so memory is what the rows need.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_BLOCK_BYTES = 1 << 26


class RowStore:
    """Rows of one shape and dtype, appended in batches; read back in order, block by block."""

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._rows_per_block = 0
        self.count = 0

    def append(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        if not self._blocks:
            self._rows_per_block = max(1, _BLOCK_BYTES // max(1, rows[0].nbytes))
        written = 0
        while written < len(rows):
            block, offset = divmod(self.count, self._rows_per_block)
            if block == len(self._blocks):
                self._blocks.append(np.empty((self._rows_per_block, *rows.shape[1:]), rows.dtype))
            take = min(len(rows) - written, self._rows_per_block - offset)
            self._blocks[block][offset : offset + take] = rows[written : written + take]
            written += take
            self.count += take

    def parts(self) -> Iterator[np.ndarray]:
        """The filled rows, as views into the blocks, in order."""
        for block_index, block in enumerate(self._blocks):
            yield block[: min(self._rows_per_block, self.count - block_index * self._rows_per_block)]

    def gather(self, selector: tuple = ()) -> np.ndarray:
        """All filled rows (or `row[selector]` of each) as one new array."""
        pieces = [part[(slice(None), *selector)] for part in self.parts()]
        return np.concatenate(pieces) if pieces else np.zeros(0)

    def extend(self, other: RowStore) -> None:
        for part in other.parts():
            self.append(part)

    def __getstate__(self) -> dict:
        # Pickle (all_gather_object) only the filled rows, not the unwritten rest of the last block.
        return {"rows": self.gather() if self.count else None}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        if state["rows"] is not None:
            self.append(state["rows"])
