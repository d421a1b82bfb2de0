"""Data sources, one module per kind of data, registered by name (see `registry`)."""

import importlib
import pkgutil

from dlrecipes.data.registry import Signature, Source, get_source, register_source, source_names, source_of

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "pipeline", "splits", "files", "augment"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Signature", "Source", "get_source", "register_source", "source_names", "source_of"]
