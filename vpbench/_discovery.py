"""Import every public module of a model package so that its `@register_model` decorators run."""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package: str, path) -> None:
    for module in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
