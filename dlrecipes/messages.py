"""Error messages for recipes: a pydantic error or a check's problem as `key.path (line N): what`.

The key path is the recipe's own (the tags pydantic puts into discriminated unions are taken
out), the line is the YAML's, or the `--set` that put the value there; values are cut so a
message stays short whatever the input.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Union

import yaml

from dlrecipes.errors import MAX_SHOWN, cut, did_you_mean, quoted, shown
from dlrecipes.recipe import Recipe
from dlrecipes.schema import Section

MAX_PROBLEMS = 20  # listed of one recipe's problems; the rest are counted


# The keys that choose a section's class: model.arch, data.source, an augmentation's name.
TAGS = ("arch", "source", "name")


def error_path(error: dict, raw: dict) -> tuple:
    """The recipe key a pydantic error is about (what `describe` shows before the colon)."""
    return tuple(_key_path(tuple(error["loc"]), raw))


def _key_path(loc: tuple, raw: dict) -> list:
    """The loc of a pydantic error as recipe keys, without the union tags pydantic inserts."""
    path: list = []
    cls: type | None = Recipe
    node: object = raw
    for part in loc:
        if isinstance(part, int) and not isinstance(node, dict):  # a list index (a dict's key may be 1)
            path.append(part)
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if _is_tag(node, part) or _is_member_type(node, part):
            continue
        path.append(str(part))  # a dict's key: `1: x` is reported as key '1', not item [1]
        known = cls is not None and part in cls.model_fields
        node = node.get(part) if isinstance(node, dict) else None
        cls = _section_class(cls.model_fields[part].annotation, node) if known else None
    return path


def _is_member_type(node, part) -> bool:
    """Whether `part` names the member of a plain union that pydantic tried (`float`,
    `list[constrained-float]`): a scalar has no keys, so any string below it is one."""
    return isinstance(part, str) and node is not None and not isinstance(node, (dict, list))


def _is_tag(node, part) -> bool:
    """Whether `part` is the tag pydantic puts in a discriminated union's error loc."""
    return isinstance(node, dict) and part in [node.get(key) for key in TAGS] and part not in node


def _section_class(annotation, node) -> type | None:
    """The Section class an annotation stands for, choosing a union member by its tag."""
    candidates = [c for c in _flatten(annotation) if isinstance(c, type) and issubclass(c, Section)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for cls in candidates:
        for key in TAGS:
            field = cls.model_fields.get(key)
            if field and isinstance(node, dict) and node.get(key) in typing.get_args(field.annotation):
                return cls
    return None


def _flatten(annotation) -> list:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        return [c for arg in typing.get_args(annotation) for c in _flatten(arg)]
    return [annotation]


def _class_at(path: list, raw: dict) -> type | None:
    cls: type | None = Recipe
    annotation = None  # of the field last stepped into: a list's items are chosen by their tag
    node: object = raw
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            cls = _section_class(annotation, node) if annotation is not None else cls
            continue
        if cls is None or part not in cls.model_fields:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        annotation = cls.model_fields[part].annotation
        cls = _section_class(annotation, node)
    return cls


def _format_path(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return cut(out, 2 * MAX_SHOWN) if out else "(top level)"


def _line_of(node: yaml.Node | None, path: list) -> int | None:
    """1-based line of the deepest key of `path` present in the composed YAML."""
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _expected(text: str) -> list[str]:
    """pydantic's "'a', 'b' or 'c'" (or "11, 13 or 16") as the list of values."""
    quoted = re.findall(r"'([^']*)'", text)
    return quoted or [value for value in re.split(r", | or ", text) if value]


def _registered(discriminator: str) -> list[str]:
    """What a union's tag may be, from the registries (pydantic's message lists none)."""
    if discriminator == "arch":
        from dlrecipes.models.registry import list_models

        return list_models()
    if discriminator == "source":
        from dlrecipes.data.registry import source_names

        return source_names()
    return []


def _choices(values: list[str], lead: str) -> str:
    """' Allowed: a, b.' - or nothing: a message never ends in an empty list."""
    return f" {lead}: {', '.join(values)}." if values else ""


def describe(error: dict, raw: dict, node: yaml.Node | None, overrides: list) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = _key_path(loc, raw)
    ctx = error.get("ctx") or {}
    given = shown(error.get("input"))

    if kind == "extra_forbidden":
        parent = _class_at(path[:-1], raw)
        allowed = sorted(parent.model_fields) if parent else []
        key = str(path[-1])
        message = f"unknown key {quoted(key)} (given: {given}).{did_you_mean(key, allowed)}"
        message += _choices(allowed, "Allowed here")
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "")).strip("'")
        path = path + [tag]
        expected = _expected(str(ctx.get("expected_tags", ""))) or _registered(tag)
        if kind == "union_tag_not_found":
            message = f"missing key {quoted(tag)}." + _choices(expected, "Choose one of")
        else:
            tag_given = str(ctx.get("tag"))
            message = (f"unknown value {quoted(tag_given)}.{did_you_mean(tag_given, expected)}"
                       + _choices(expected, "Allowed"))
    elif kind == "literal_error":
        expected = _expected(str(ctx.get("expected", "")))
        message = (f"{given} is not allowed.{did_you_mean(str(error.get('input')), expected)}"
                   + _choices(expected, "Allowed"))
    elif kind == "missing":
        message = "missing required key."
    elif kind == "value_error":
        message = cut(str(ctx.get("error", error["msg"])), 4 * MAX_SHOWN)
    else:
        message = f"{cut(error['msg'], 4 * MAX_SHOWN)} (given: {given})."

    return located(path, message, node, overrides)


def located(path: list, message: str, node: yaml.Node | None, overrides: list) -> str:
    """`key.path (line N): message`, or `(--set ...)` when an override put the value there."""
    key = _format_path(path)
    via = [o for o in overrides if _overlaps(tuple(str(p) for p in path), o.path)]
    if via:
        origin = f" (--set {cut(via[-1].expression)})"
    else:
        line = _line_of(node, path)
        origin = f" (line {line})" if line else ""
    return f"{key}{origin}: {message}"


def _overlaps(path: tuple[str, ...], override: tuple[str, ...]) -> bool:
    n = min(len(path), len(override))
    return n > 0 and path[:n] == override[:n]
