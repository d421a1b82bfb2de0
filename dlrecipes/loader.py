"""Recipe files: where they are found, reading them, `--set` overrides, error messages.

`load_recipe` is the front door: it finds and reads the file, applies the overrides,
validates the result against the schema (`dlrecipes.recipe`) and runs every check that
needs no training examples (`dlrecipes.checks`). `validate`, `describe`, `list` and
`train` all come in through it, so what `validate` accepts, `train` runs.

The file itself is read as untrusted input by `dlrecipes.yamlio`; messages are
formatted by `dlrecipes.messages`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from dlrecipes.errors import RecipeError, cut, did_you_mean, quoted, shown_path
from dlrecipes.messages import MAX_PROBLEMS, describe, error_path, located
from dlrecipes.recipe import Recipe
from dlrecipes.yamlio import MAX_DEPTH, Refused, parse_yaml, read_yaml

# --- finding recipes ---------------------------------------------------------------------


def builtin_dir() -> Path | None:
    """The recipes that ship with the package (in a wheel) or sit beside it (a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "recipes", here.parent / "recipes"):
        if _is_dir(candidate):
            return candidate
    return None


def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ./recipes first, then the built-in collection."""
    dirs = []
    try:
        dirs.append(Path.cwd() / "recipes")
    except OSError:  # the working directory was removed under us: only the built-in ones
        pass
    builtin = builtin_dir()
    if builtin is not None:
        dirs.append(builtin)
    unique: list[Path] = []
    for d in dirs:
        if _is_dir(d) and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def _is_dir(path: Path) -> bool:
    """Path.is_dir, with a folder we may not even look at (EACCES on a parent) counted as absent."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _listing(d: Path) -> tuple[list[Path], str | None]:
    """The .yaml files in `d`, sorted, and why `d` could not be read (None when it could).

    Path.glob would hide an unreadable folder as an empty one; the caller says so instead.
    """
    try:
        names = sorted(entry.name for entry in os.scandir(d))
    except OSError as error:
        return [], error.strerror or type(error).__name__
    return [d / name for name in names if Path(name).suffix == ".yaml"], None


def unreadable_dirs() -> dict[Path, str]:
    """Recipe folders that exist but cannot be listed, with the reason."""
    found = {}
    for d in recipe_dirs():
        _, problem = _listing(d)
        if problem:
            found[d] = problem
    return found


def all_recipes() -> dict[str, Path]:
    """Every recipe by name; a recipe in ./recipes shadows a built-in one of the same name.

    Names only: a file listed here may still fail to load (not a regular file, invalid),
    which `load_recipe` reports for that recipe alone.
    """
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for path in _listing(d)[0]:
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_recipe(ref: str) -> Path:
    """A recipe file from a name (`mnist-dnn`) or a path (`my/recipe.yaml`)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or os.sep in ref or "/" in ref:
        problem = _stat_problem(path)
        if problem is None:
            return path
        if problem == "not found":
            raise RecipeError(
                f"no recipe file at {quoted(ref)}.",
                where=shown_path(ref),
                fix="check the path, or give a recipe name from `dlrecipes list`",
            )
        raise RecipeError(
            f"cannot read recipe file {quoted(ref)}: {problem}.",
            where=shown_path(ref),
            fix="give the path of a readable .yaml file, or a recipe name from `dlrecipes list`",
        )
    known = all_recipes()
    if ref in known:
        return known[ref]
    unreadable = unreadable_dirs()
    searched = [f"{d} ({unreadable[d]})" if d in unreadable else str(d) for d in recipe_dirs()]
    raise RecipeError(
        f"no recipe named {quoted(ref)}.{did_you_mean(ref, known)}",
        where="searched " + ", ".join(searched),
        fix="`dlrecipes list` shows the recipes; a path to a .yaml file works too",
    )


def _stat_problem(path: Path) -> str | None:
    """None when `path` exists, else "not found" or the reason (symlink loop, name too long)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "not found"
    except OSError as error:
        return (error.strerror or type(error).__name__).lower()
    except ValueError:  # a NUL character: no file system accepts it
        return "the path contains a NUL character"
    return None


# --- overrides -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    expression: str
    path: tuple[str, ...]
    value: object


def parse_override(expression: str) -> Override:
    """`train.epochs=3` -> path ('train', 'epochs'), value 3 (the value is read as YAML)."""
    key, sep, text = expression.partition("=")
    key = key.strip()
    shown = cut(expression)
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key):
        raise RecipeError(
            f"cannot read override {quoted(expression)}.",
            where=f"--set {shown}",
            fix="write KEY.PATH=VALUE, e.g. --set train.epochs=3 or --set model.hidden=[512,256]",
        )
    path = tuple(key.split("."))
    if len(path) > MAX_DEPTH:
        raise RecipeError(f"override key has {len(path)} levels; a recipe has a few.", where=f"--set {shown}",
                          fix="name a key of the recipe, e.g. --set train.epochs=3")
    try:
        value = parse_yaml(text)[0] if text.strip() else None
    except Refused as refused:
        raise RecipeError(f"override value refused: {refused.problem}.", where=f"--set {shown}",
                          fix=refused.fix) from None
    except yaml.YAMLError:
        value = text  # not YAML (e.g. `a: b: c`): the text itself, which the schema judges
    return Override(expression=expression, path=path, value=value)


def apply_overrides(raw: dict, overrides: list[Override]) -> dict:
    for override in overrides:
        node = raw
        for i, key in enumerate(override.path[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(override.path[: i + 1])
                raise RecipeError(
                    f"cannot set {quoted('.'.join(override.path))}: {quoted(where)} is a value, not a section.",
                    where=f"--set {cut(override.expression)}",
                    fix=f"set {quoted(where)} itself, e.g. --set {cut(where)}=...",
                )
            node = child
        node[override.path[-1]] = override.value
    return raw


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path | None
    signature: object | None = None  # the data's metadata, when the data is on this machine


def load_recipe(ref: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """Find, read, override and validate a recipe; any problem is one `RecipeError`."""
    path = find_recipe(ref)
    raw, node = read_yaml(path)
    raw.setdefault("name", path.stem)
    parsed = [parse_override(o) for o in overrides]
    apply_overrides(raw, parsed)
    recipe = validate(raw, source=str(path), node=node, overrides=parsed)
    from dlrecipes import checks  # the one check phase: what validate accepts, train runs

    found, signature = checks.problems(recipe)
    if found:
        details = [located(list(p.path), p.message, node, parsed) for p in found[:MAX_PROBLEMS]]
        if len(found) > MAX_PROBLEMS:
            details.append(f"... and {len(found) - MAX_PROBLEMS} more (fix these, then validate again)")
        raise RecipeError(
            f"recipe {path} cannot train as written ({len(found)} problem{'s' if len(found) > 1 else ''}):",
            details=details,
        )
    return LoadedRecipe(recipe=recipe, path=path, signature=signature)


def validate(
    raw: dict,
    *,
    source: str,
    text: str | None = None,
    overrides: list[Override] = (),
    node: yaml.Node | None = None,
) -> Recipe:
    """The Recipe from `raw`, or a RecipeError listing the first MAX_PROBLEMS problems.

    `node` (the composed YAML, or `text` to compose) gives each problem its line.
    """
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        errors = err.errors()
        if node is None and text:
            node = _compose_quietly(text)
        # A value that fits no member of a union fails once per member; the first says why.
        errors = _first_per_key(errors, raw)
        problems = [describe(e, raw, node, overrides) for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            problems.append(f"... and {len(errors) - MAX_PROBLEMS} more (fix these, then validate again)")
        raise RecipeError(
            f"invalid recipe {source} ({len(errors)} problem{'s' if len(errors) > 1 else ''}):",
            details=problems,
        ) from None


def _first_per_key(errors: list[dict], raw: dict) -> list[dict]:
    """The first error at each recipe key: a value that fits no member of a union fails once
    per member, and `error_path` (which sets the members' names aside) maps them all to one."""
    seen, kept = set(), []
    for error in errors:
        key = error_path(error, raw)
        if key not in seen:
            seen.add(key)
            kept.append(error)
    return kept


def _compose_quietly(text: str) -> yaml.Node | None:
    try:
        return parse_yaml(text)[1]
    except yaml.YAMLError:
        return None
