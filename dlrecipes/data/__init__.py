"""Data sources, one module per kind of data, registered by name (see `registry`)."""

import importlib
import pkgutil

from dlrecipes.data.registry import Signature, get_source, register_source, source_names

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "pipeline", "splits", "files", "augment"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Signature", "get_source", "register_source", "source_names"]
