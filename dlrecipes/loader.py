"""Recipe files: where they are found, reading them, `--set` overrides, error messages.

`load_recipe` is the front door: it finds and reads the file, applies the overrides,
validates the result against the schema (`dlrecipes.recipe`) and runs every check that
needs no training examples (`dlrecipes.checks`). `validate`, `describe`, `list` and
`train` all come in through it, so what `validate` accepts, `train` runs.

A recipe is untrusted input: every way a file can be wrong (not UTF-8, not a regular file,
too big, too deep, aliases that expand to millions of values, duplicate keys, numbers too
long to convert) ends in one `RecipeError`, after bounded work, with a bounded message.
"""

from __future__ import annotations

import os
import re
import stat
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import ValidationError

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.recipe import Recipe
from dlrecipes.schema import Section

# Budgets for a recipe. The shipped recipes are a few kB, nest at most 6 levels and hold
# under 100 values; these are far above any real recipe and far below what hangs.
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 100  # nesting levels of mappings and lists, once aliases are expanded
MAX_VALUES = 10_000  # values in the file (or a --set value), once aliases are expanded
MAX_PROBLEMS = 20  # listed of one recipe's schema problems; the rest are counted
MAX_SHOWN = 80  # characters of a value, key or path echoed in a message

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
                f"no recipe file at {_quoted(ref)}.",
                where=_absolute(ref),
                fix="check the path, or give a recipe name from `dlrecipes list`",
            )
        raise RecipeError(
            f"cannot read recipe file {_quoted(ref)}: {problem}.",
            where=_absolute(ref),
            fix="give the path of a readable .yaml file, or a recipe name from `dlrecipes list`",
        )
    known = all_recipes()
    if ref in known:
        return known[ref]
    unreadable = unreadable_dirs()
    searched = [f"{d} ({unreadable[d]})" if d in unreadable else str(d) for d in recipe_dirs()]
    raise RecipeError(
        f"no recipe named {_quoted(ref)}.{did_you_mean(ref, known)}",
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


def _absolute(ref: str) -> str:
    """The absolute path for a message; never resolves symlinks (a loop would raise)."""
    try:
        return _cut(os.path.abspath(ref), 4 * MAX_SHOWN)
    except (OSError, ValueError):
        return _cut(ref, 4 * MAX_SHOWN)


# --- reading -------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The text of a recipe file, refusing anything that is not a small UTF-8 regular file.

    The type is checked before opening, so a FIFO or a device never blocks `validate`, and
    again on the open file (O_NONBLOCK: a FIFO swapped in meanwhile opens without waiting).
    """
    kind = _kind(path)
    if kind != "file":
        raise RecipeError(
            f"the recipe path is {kind}, not a regular file.",
            where=_absolute(str(path)),
            fix="give the path of a .yaml file",
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise RecipeError("the recipe path is not a regular file.", where=_absolute(str(path)),
                                  fix="give the path of a .yaml file")
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _unreadable(path, error) from None
    if len(data) > MAX_FILE_BYTES:
        raise RecipeError(
            f"the recipe file is larger than {MAX_FILE_BYTES:,} bytes; a recipe is a few kB of YAML.",
            where=_absolute(str(path)),
            fix="check that this is the recipe you meant; data belongs in files the recipe names",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise RecipeError(
            f"the recipe file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be decoded.",
            where=f"{_absolute(str(path))}, line {line}, column {column}",
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE)",
        ) from None


def _kind(path: Path) -> str:
    """'file', or what the path is instead (for the message), following symlinks."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise _unreadable(path, error) from None
    except ValueError:
        raise RecipeError("the recipe path contains a NUL character.", where=_cut(repr(str(path)))) from None
    if stat.S_ISREG(mode):
        return "file"
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    for is_kind, name in kinds:
        if is_kind(mode):
            return name
    return "not a regular file"


def _unreadable(path: Path, error: OSError) -> RecipeError:
    reason = error.strerror or type(error).__name__
    return RecipeError(
        f"cannot read recipe file: {reason}.",
        where=_absolute(str(path)),
        fix="check that the file exists and is readable (permissions, symlinks)",
    )


class _Refused(yaml.YAMLError):
    """A YAML document refused by `_RecipeLoader`: valid YAML, but not a recipe we read."""

    def __init__(self, problem: str, mark, fix: str):
        super().__init__(problem)
        self.problem, self.problem_mark, self.fix = problem, mark, fix


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader that refuses, with the line, what would mislead or exhaust us.

    - a key given twice in one mapping (SafeLoader silently keeps the last one);
    - nesting deeper than MAX_DEPTH (the composer recurses: RecursionError);
    - a number too long for int() (Python's int-from-str limit raises ValueError);
    - a value the constructors cannot make (a timestamp such as 2001-13-45).
    The expanded size of aliases is checked on the composed node (`_check_size`).
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark,
                               fix="a recipe nests a few levels; check the brackets and indentation")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first: dict = {}
        for key, _ in node.value:
            identity = self._key_identity(key)
            if identity is None:
                continue
            seen = first.setdefault(identity, key)
            if seen is not key:
                raise _Refused(_duplicate(seen, key), key.start_mark, fix="keep one of them (YAML would silently use the last)")
        return node

    def _key_identity(self, key: yaml.Node):
        """What a key is as a Python dict key (`1` and `true` are one key), or None where
        the constructor judges the key itself (a list as a key, a merge `<<`: no scalar
        constructor)."""
        if not isinstance(key, yaml.ScalarNode) or key.tag not in self.yaml_constructors:
            return None
        value = self.construct_object(key)  # memoized: constructing the document reuses it
        return value if isinstance(value, Hashable) else None

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            raise _Refused(_cut(f"cannot read this value: {error}", 200), node.start_mark,
                           fix="write the value in a form YAML reads (quote it to make it a string)") from None

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Refused(f"the number has {len(node.value):,} characters, more than can be read",
                           node.start_mark, fix="write a number of sensible size") from None


def _duplicate(first: yaml.ScalarNode, again: yaml.ScalarNode) -> str:
    """"key 'epochs' is given twice, on line 3 and on line 5" (or both spellings of one key)."""
    if first.value == again.value:
        what = f"key {_quoted(again.value)} is given twice"
    else:
        what = f"keys {_quoted(first.value)} and {_quoted(again.value)} are the same key in YAML"
    lines = first.start_mark.line + 1, again.start_mark.line + 1
    return what + (f", both on line {lines[0]}" if lines[0] == lines[1] else f", on line {lines[0]} and on line {lines[1]}")


_RecipeLoader.add_constructor("tag:yaml.org,2002:int", _RecipeLoader.construct_yaml_int)
# YAML 1.1 (PyYAML) reads 1e-3 and 1e-05 as strings: a float needs a dot there. Recipes say
# `learning_rate: 1e-3`, and lr-find suggests `--set ...learning_rate=1e-05`; read them as the
# numbers YAML 1.2 and every user take them for. Resolvers are tried in order, so this one
# only answers where PyYAML's own int and float patterns did not match.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


class _RecipeDumper(yaml.SafeDumper):
    """SafeDumper that quotes a string `_RecipeLoader` would read as a float ('1e5')."""


_RecipeDumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def dump_yaml(data) -> str:
    """YAML that `parse_yaml` reads back as `data` (a run's recipe.yaml, `describe`)."""
    return yaml.dump(data, Dumper=_RecipeDumper, sort_keys=False, allow_unicode=True)


def _check_size(node: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_VALUES values or MAX_DEPTH levels.

    Aliases share one node, so the document is small in memory; but everything after YAML
    (validation, error messages, the model builders) walks the expanded tree, and ten lines
    of nested aliases ("billion laughs") expand to 10**9 values.
    """
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, levels)

    def walk(node, depth: int, active: set) -> tuple[int, int]:
        key = id(node)
        if key in active:
            raise _Refused("a YAML alias refers to a value that contains it (a loop)", node.start_mark,
                           fix="remove the alias (*name) that points back into its own anchor (&name)")
        if key not in memo:
            children = _children(node)
            if children and depth >= MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded",
                               node.start_mark, fix="a recipe nests a few levels; check the aliases (*name)")
            active.add(key)
            sizes = [walk(child, depth + 1, active) for child in children]
            active.discard(key)
            values = 1 + sum(size for size, _ in sizes)
            memo[key] = (min(values, MAX_VALUES + 1), 1 + max((levels for _, levels in sizes), default=0))
        values, levels = memo[key]
        if depth + levels > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded",
                           node.start_mark, fix="a recipe nests a few levels; check the aliases (*name)")
        if values > MAX_VALUES and depth == 0:
            raise _Refused(
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases repeat what they name)",
                _where_it_grows(node, memo).start_mark,
                fix="a recipe holds a few hundred values; remove the repeated aliases (*name)",
            )
        return values, levels

    walk(node, 0, set())


def _children(node: yaml.Node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _where_it_grows(node: yaml.Node, memo: dict) -> yaml.Node:
    """The smallest node over budget: where the expansion is built, for the message's line."""
    while True:
        over = [c for c in _children(node) if memo[id(c)][0] > MAX_VALUES]
        if not over:
            return node
        node = over[0]


def parse_yaml(text: str) -> tuple[object, yaml.Node | None]:
    """(data, composed node) of one YAML document, within the budgets; raises yaml.YAMLError.

    The node is kept so that error messages find keys' lines without parsing again.
    """
    loader = _RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def read_yaml(path: Path) -> tuple[dict, yaml.Node]:
    """The recipe file as a mapping (and its composed node); any problem is a RecipeError."""
    text = read_text(path)
    try:
        raw, node = parse_yaml(text)
    except yaml.YAMLError as err:
        raise _yaml_error(err, str(path)) from None
    if not isinstance(raw, dict):
        raise RecipeError(
            "a recipe must be a YAML mapping with the sections task, data, model and train.",
            where=str(path),
            fix="start from a recipe shown by `dlrecipes list`",
        )
    return raw, node


def _yaml_error(err: yaml.YAMLError, where: str) -> RecipeError:
    mark = getattr(err, "problem_mark", None)
    at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or str(err)
    if isinstance(err, _Refused):
        return RecipeError(f"recipe refused: {problem}.", where=f"{where}{at}", fix=err.fix)
    return RecipeError(
        f"recipe is not valid YAML: {_cut(problem, 200)}.",
        where=f"{where}{at}",
        fix="check indentation and quoting at that line",
    )


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
    shown = _cut(expression)
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key):
        raise RecipeError(
            f"cannot read override {_quoted(expression)}.",
            where=f"--set {shown}",
            fix="write KEY.PATH=VALUE, e.g. --set train.epochs=3 or --set model.hidden=[512,256]",
        )
    path = tuple(key.split("."))
    if len(path) > MAX_DEPTH:
        raise RecipeError(f"override key has {len(path)} levels; a recipe has a few.", where=f"--set {shown}",
                          fix="name a key of the recipe, e.g. --set train.epochs=3")
    try:
        value = parse_yaml(text)[0] if text.strip() else None
    except _Refused as refused:
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
                    f"cannot set {_quoted('.'.join(override.path))}: {_quoted(where)} is a value, not a section.",
                    where=f"--set {_cut(override.expression)}",
                    fix=f"set {_quoted(where)} itself, e.g. --set {_cut(where)}=...",
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
        details = [_located(list(p.path), p.message, node, parsed) for p in found[:MAX_PROBLEMS]]
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
        problems = [_describe(e, raw, node, overrides) for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            problems.append(f"... and {len(errors) - MAX_PROBLEMS} more (fix these, then validate again)")
        raise RecipeError(
            f"invalid recipe {source} ({len(errors)} problem{'s' if len(errors) > 1 else ''}):",
            details=problems,
        ) from None


def _compose_quietly(text: str) -> yaml.Node | None:
    try:
        return parse_yaml(text)[1]
    except yaml.YAMLError:
        return None


# --- error messages ----------------------------------------------------------------------


def _cut(text: str, width: int = MAX_SHOWN) -> str:
    """`text` cut to `width` characters: a message echoes a 1 MB value as its start."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _quoted(text: object) -> str:
    return f"'{_cut(str(text))}'"


def _shown(value: object) -> str:
    return _cut(repr(value))


# The keys that choose a section's class: model.arch, data.source, an augmentation's name.
TAGS = ("arch", "source", "name")


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
        if _is_tag(node, part):
            continue
        path.append(str(part))  # a dict's key: `1: x` is reported as key '1', not item [1]
        if cls is not None and part in cls.model_fields:
            node = node.get(part) if isinstance(node, dict) else None
            cls = _section_class(cls.model_fields[part].annotation, node)
        else:
            cls = None
    return path


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
    return _cut(out, 2 * MAX_SHOWN) if out else "(top level)"


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


def _describe(error: dict, raw: dict, node: yaml.Node | None, overrides: list[Override]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = _key_path(loc, raw)
    ctx = error.get("ctx") or {}
    given = _shown(error.get("input"))

    if kind == "extra_forbidden":
        parent = _class_at(path[:-1], raw)
        allowed = sorted(parent.model_fields) if parent else []
        key = str(path[-1])
        message = f"unknown key {_quoted(key)} (given: {given}).{did_you_mean(key, allowed)}"
        message += _choices(allowed, "Allowed here")
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "")).strip("'")
        path = path + [tag]
        expected = _expected(str(ctx.get("expected_tags", ""))) or _registered(tag)
        if kind == "union_tag_not_found":
            message = f"missing key {_quoted(tag)}." + _choices(expected, "Choose one of")
        else:
            tag_given = str(ctx.get("tag"))
            message = (f"unknown value {_quoted(tag_given)}.{did_you_mean(tag_given, expected)}"
                       + _choices(expected, "Allowed"))
    elif kind == "literal_error":
        expected = _expected(str(ctx.get("expected", "")))
        message = (f"{given} is not allowed.{did_you_mean(str(error.get('input')), expected)}"
                   + _choices(expected, "Allowed"))
    elif kind == "missing":
        message = "missing required key."
    elif kind == "value_error":
        message = _cut(str(ctx.get("error", error["msg"])), 4 * MAX_SHOWN)
    else:
        message = f"{_cut(error['msg'], 4 * MAX_SHOWN)} (given: {given})."

    return _located(path, message, node, overrides)


def _located(path: list, message: str, node: yaml.Node | None, overrides: list[Override]) -> str:
    """`key.path (line N): message`, or `(--set ...)` when an override put the value there."""
    key = _format_path(path)
    via = [o for o in overrides if _overlaps(tuple(str(p) for p in path), o.path)]
    if via:
        origin = f" (--set {_cut(via[-1].expression)})"
    else:
        line = _line_of(node, path)
        origin = f" (line {line})" if line else ""
    return f"{key}{origin}: {message}"


def _overlaps(path: tuple[str, ...], override: tuple[str, ...]) -> bool:
    n = min(len(path), len(override))
    return n > 0 and path[:n] == override[:n]
