"""Recipe files: where they are found, reading them, `--set` overrides, error messages.

`load_recipe` is the front door: it finds and reads the file, applies the overrides,
validates the result against the schema (`dlrecipes.recipe`) and runs every check that
needs no training examples (`dlrecipes.checks`). `validate`, `describe`, `list` and
`train` all come in through it, so what `validate` accepts, `train` runs.
"""

from __future__ import annotations

import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import ValidationError

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.recipe import Recipe
from dlrecipes.schema import Section

# --- finding recipes ---------------------------------------------------------------------


def builtin_dir() -> Path | None:
    """The recipes that ship with the package (in a wheel) or sit beside it (a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "recipes", here.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    return None


def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ./recipes first, then the built-in collection."""
    dirs = [Path.cwd() / "recipes"]
    builtin = builtin_dir()
    if builtin is not None:
        dirs.append(builtin)
    unique = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def all_recipes() -> dict[str, Path]:
    """Every recipe by name; a recipe in ./recipes shadows a built-in one of the same name."""
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for path in sorted(d.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_recipe(ref: str) -> Path:
    """A recipe file from a name (`mnist-dnn`) or a path (`my/recipe.yaml`)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or os.sep in ref or "/" in ref:
        if path.is_file():
            return path
        raise RecipeError(
            f"no recipe file at '{ref}'.",
            where=str(path.resolve()),
            fix="check the path, or give a recipe name from `dlrecipes list`",
        )
    known = all_recipes()
    if ref in known:
        return known[ref]
    raise RecipeError(
        f"no recipe named '{ref}'.{did_you_mean(ref, known)}",
        where="searched " + ", ".join(str(d) for d in recipe_dirs()),
        fix="`dlrecipes list` shows the recipes; a path to a .yaml file works too",
    )


# --- loading and overrides -----------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    expression: str
    path: tuple[str, ...]
    value: object


def parse_override(expression: str) -> Override:
    """`train.epochs=3` -> path ('train', 'epochs'), value 3 (the value is read as YAML)."""
    key, sep, text = expression.partition("=")
    key = key.strip()
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key):
        raise RecipeError(
            f"cannot read override '{expression}'.",
            where=f"--set {expression}",
            fix="write KEY.PATH=VALUE, e.g. --set train.epochs=3 or --set model.hidden=[512,256]",
        )
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return Override(expression=expression, path=tuple(key.split(".")), value=value)


def apply_overrides(raw: dict, overrides: list[Override]) -> dict:
    for override in overrides:
        node = raw
        for i, key in enumerate(override.path[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(override.path[: i + 1])
                raise RecipeError(
                    f"cannot set '{'.'.join(override.path)}': '{where}' is a value, not a section.",
                    where=f"--set {override.expression}",
                    fix=f"set '{where}' itself, e.g. --set {where}=...",
                )
            node = child
        node[override.path[-1]] = override.value
    return raw


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path | None


def load_recipe(ref: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """Find, read, override and validate a recipe; any problem is one `RecipeError`."""
    path = find_recipe(ref)
    try:
        text = path.read_text()
    except OSError as err:
        raise RecipeError(f"cannot read recipe file: {err.strerror}.", where=str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise RecipeError(
            f"recipe is not valid YAML: {problem}.",
            where=f"{path}{at}",
            fix="check indentation and quoting at that line",
        ) from None
    if not isinstance(raw, dict):
        raise RecipeError(
            "a recipe must be a YAML mapping with the sections task, data, model and train.",
            where=str(path),
            fix="start from a recipe shown by `dlrecipes list`",
        )
    raw.setdefault("name", path.stem)
    parsed = [parse_override(o) for o in overrides]
    apply_overrides(raw, parsed)
    return LoadedRecipe(recipe=validate(raw, source=str(path), text=text, overrides=parsed), path=path)


def validate(raw: dict, *, source: str, text: str | None = None, overrides: list[Override] = ()) -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        problems = [_describe(e, raw, text, overrides) for e in err.errors()]
        raise RecipeError(
            f"invalid recipe {source} ({len(problems)} problem{'s' if len(problems) > 1 else ''}):",
            details=problems,
        ) from None


# --- error messages ----------------------------------------------------------------------


def _key_path(loc: tuple, raw: dict) -> list:
    """The loc of a pydantic error as recipe keys, without the union tags pydantic inserts."""
    path: list = []
    cls: type | None = Recipe
    node: object = raw
    for part in loc:
        if isinstance(part, int):
            path.append(part)
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if _is_tag(node, part):
            continue
        path.append(part)
        if cls is not None and part in cls.model_fields:
            node = node.get(part) if isinstance(node, dict) else None
            cls = _section_class(cls.model_fields[part].annotation, node)
        else:
            cls = None
    return path


def _is_tag(node, part) -> bool:
    """Whether `part` is the tag pydantic puts in a discriminated union's error loc."""
    return isinstance(node, dict) and part in (node.get("arch"), node.get("source")) and part not in node


def _section_class(annotation, node) -> type | None:
    """The Section class an annotation stands for, choosing a union member by its tag."""
    candidates = [c for c in _flatten(annotation) if isinstance(c, type) and issubclass(c, Section)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for cls in candidates:
        for key in ("arch", "source"):
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
    node: object = raw
    for part in path:
        if isinstance(part, int):  # an item of a list of sections: cls is already the item's
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if cls is None or part not in cls.model_fields:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        cls = _section_class(cls.model_fields[part].annotation, node)
    return cls


def _format_path(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_of(text: str | None, path: list) -> int | None:
    """1-based line of the deepest key of `path` present in the YAML text."""
    if not text:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
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


def _describe(error: dict, raw: dict, text: str | None, overrides: list[Override]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = _key_path(loc, raw)
    ctx = error.get("ctx") or {}

    if kind == "extra_forbidden":
        parent = _class_at(path[:-1], raw)
        allowed = sorted(parent.model_fields) if parent else []
        key = str(path[-1])
        message = f"unknown key '{key}' (given: {error.get('input')!r}).{did_you_mean(key, allowed)}"
        if allowed:
            message += f" Allowed here: {', '.join(allowed)}."
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("discriminator", "").strip("'")
        path = path + [tag]
        expected = re.findall(r"'([^']*)'", ctx.get("expected_tags", ""))
        given = ctx.get("tag")
        if kind == "union_tag_not_found":
            message = f"missing key; choose one of: {', '.join(expected)}."
        else:
            message = f"unknown value '{given}'.{did_you_mean(str(given), expected)} Allowed: {', '.join(expected)}."
    elif kind == "literal_error":
        expected = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        given = error.get("input")
        message = f"'{given}' is not allowed.{did_you_mean(str(given), expected)} Allowed: {', '.join(expected)}."
    elif kind == "missing":
        message = "missing required key."
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = f"{error['msg']} (given: {error.get('input')!r})."

    key = _format_path(path)
    via = [o for o in overrides if _overlaps(tuple(str(p) for p in path), o.path)]
    if via:
        origin = f" (--set {via[-1].expression})"
    else:
        line = _line_of(text, path)
        origin = f" (line {line})" if line else ""
    return f"{key}{origin}: {message}"


def _overlaps(path: tuple[str, ...], override: tuple[str, ...]) -> bool:
    n = min(len(path), len(override))
    return n > 0 and path[:n] == override[:n]
