"""How metric values that are not finite numbers travel through JSON.

Why this module exists: PSNR of identical frames is +inf under OpenSTL's and PredRNN's arithmetic, and
SRVP's pooled PSNR/SSIM can be -inf or nan. JSON has no such numbers (Python would write the invalid
token `Infinity`), and null would read as "missing". So results carry them as the strings "inf", "-inf"
and "nan"; every finite value is a plain JSON number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def to_json_number(value: float) -> float | str:
    """A float for JSON: itself if finite, else "inf", "-inf" or "nan"."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def to_json_numbers(values: Iterable[float]) -> list[float | str]:
    return [to_json_number(v) for v in values]


def from_json_number(value: float | int | str) -> float:
    """Inverse of `to_json_number`."""
    if isinstance(value, str):
        if value not in NON_FINITE:
            raise ValueError(f"not a metric value: {value!r}")
        return NON_FINITE[value]
    return float(value)
