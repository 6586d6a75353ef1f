"""The one renaming step every reference-code converter is made of: module -> module, tensor by tensor.

Why a table and not string substitutions: a converter must fail loudly, in one line, on the first key it
cannot place and on the first key it needs but does not find. A table of (reference module, vpbench
module, tensor names) says exactly which keys are expected, so both checks are a set difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from vpbench.errors import VpbenchError

CONV = ("weight", "bias")
CONV_NO_BIAS = ("weight",)
NORM = ("weight", "bias")  # GroupNorm, affine
BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Rename:
    """Reference module `source` becomes vpbench module `target`; `tensors` are the names it holds.

    `transform`, if given, maps each tensor (e.g. a transposed conv's weight laid out as a plain conv's).
    """

    source: str
    target: str
    tensors: tuple[str, ...]
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None


def layer_count(state_dict: Mapping[str, torch.Tensor], pattern: str) -> int:
    """How many numbered layers a checkpoint holds: 1 + the largest index captured by `pattern`, else 0."""
    indices = [int(match.group(1)) for key in state_dict if (match := re.match(pattern, key))]
    return max(indices) + 1 if indices else 0


def apply_renames(
    state_dict: Mapping[str, torch.Tensor],
    renames: Iterable[Rename],
    *,
    source_name: str,
    model_name: str,
    consumed: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """vpbench's state_dict from `renames`; `consumed` are reference keys already dealt with elsewhere.

    Raises VpbenchError on the first expected key that is missing and on the first key left unmapped.
    """
    converted: dict[str, torch.Tensor] = {}
    used = set(consumed)
    for rename in renames:
        for tensor in rename.tensors:
            key = f"{rename.source}.{tensor}"
            if key not in state_dict:
                raise VpbenchError(
                    f"{source_name} checkpoint lacks '{key}', which vpbench's {model_name} needs for "
                    f"'{rename.target}.{tensor}'; is it a {model_name} checkpoint of that code base?"
                )
            value = state_dict[key]
            converted[f"{rename.target}.{tensor}"] = rename.transform(value) if rename.transform else value
            used.add(key)
    unmapped = [key for key in state_dict if key not in used]
    if unmapped:
        raise VpbenchError(
            f"{source_name} checkpoint key '{unmapped[0]}' has no place in vpbench's {model_name} "
            f"({len(unmapped)} unmapped key(s)); is it a checkpoint of another model or variant?"
        )
    return converted


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop `prefix` (e.g. nn.DataParallel's "module.") when every key carries it."""
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def require_shape(state_dict: Mapping[str, torch.Tensor], key: str, check: Callable[[torch.Size], bool],
                  expectation: str, source_name: str, model_name: str) -> None:
    """One-line error when `state_dict[key]` has a shape vpbench's model cannot take (a missing key is
    left to `apply_renames`, which names it)."""
    if key not in state_dict:
        return
    shape = state_dict[key].shape
    if not check(shape):
        raise VpbenchError(
            f"{source_name} checkpoint '{key}' has shape {tuple(shape)}, but vpbench's {model_name} needs "
            f"{expectation}"
        )
