"""Named evaluation protocols: how many frames a model sees (context) and must predict (horizon).

Protocols are written the way papers write them, "10->10"; the default protocols of each dataset live in
the dataset's spec (`vpbench.data`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpbench.errors import VpbenchError

_PATTERN = re.compile(r"^\s*(\d+)\s*(?:->|→|-|:|to)\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class Protocol:
    context: int
    horizon: int

    @property
    def name(self) -> str:
        return f"{self.context}->{self.horizon}"

    @property
    def clip_length(self) -> int:
        return self.context + self.horizon

    def __str__(self) -> str:
        return self.name


def parse_protocol(text: str | Protocol) -> Protocol:
    """Parse '10->10' (also '10→10', '10:10', '10-10'); anything else is a one-line error."""
    if isinstance(text, Protocol):
        return text
    match = _PATTERN.match(str(text))
    if not match:
        raise VpbenchError(f"cannot read protocol '{text}'; write it as CONTEXT->HORIZON, e.g. '10->10'")
    context, horizon = int(match.group(1)), int(match.group(2))
    if context < 1 or horizon < 1:
        raise VpbenchError(f"protocol '{text}' needs at least one context and one predicted frame")
    return Protocol(context, horizon)
