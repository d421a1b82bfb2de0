"""Reading recipe YAML as untrusted input, and writing it back.

Every way a file can be wrong - not UTF-8, not a regular file, too big, too deep, aliases
that expand to millions of values, duplicate keys, numbers too long to convert - ends in
one `RecipeError`, after bounded work, with a bounded message.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Hashable
from pathlib import Path

import yaml

from dlrecipes.errors import RecipeError, cut, quoted, shown_path

# Budgets for a recipe. The shipped recipes are a few kB, nest at most 6 levels and hold
# under 100 values; these are far above any real recipe and far below what hangs.
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 100  # nesting levels of mappings and lists, once aliases are expanded
MAX_VALUES = 10_000  # values in the file (or a --set value), once aliases are expanded


def read_text(path: Path) -> str:
    """The text of a recipe file, refusing anything that is not a small UTF-8 regular file.

    The type is checked before opening, so a FIFO or a device never blocks `validate`, and
    again on the open file (O_NONBLOCK: a FIFO swapped in meanwhile opens without waiting).
    """
    kind = _kind(path)
    if kind != "file":
        raise RecipeError(
            f"the recipe path is {kind}, not a regular file.",
            where=shown_path(str(path)),
            fix="give the path of a .yaml file",
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise RecipeError("the recipe path is not a regular file.", where=shown_path(str(path)),
                                  fix="give the path of a .yaml file")
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _unreadable(path, error) from None
    if len(data) > MAX_FILE_BYTES:
        raise RecipeError(
            f"the recipe file is larger than {MAX_FILE_BYTES:,} bytes; a recipe is a few kB of YAML.",
            where=shown_path(str(path)),
            fix="check that this is the recipe you meant; data belongs in files the recipe names",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise RecipeError(
            f"the recipe file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be decoded.",
            where=f"{shown_path(str(path))}, line {line}, column {column}",
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE)",
        ) from None


def _kind(path: Path) -> str:
    """'file', or what the path is instead (for the message), following symlinks."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise _unreadable(path, error) from None
    except ValueError:
        raise RecipeError("the recipe path contains a NUL character.", where=cut(repr(str(path)))) from None
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
        where=shown_path(str(path)),
        fix="check that the file exists and is readable (permissions, symlinks)",
    )


class Refused(yaml.YAMLError):
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
                raise Refused(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark,
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
                raise Refused(_duplicate(seen, key), key.start_mark, fix="keep one of them (YAML would silently use the last)")
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
            raise Refused(cut(f"cannot read this value: {error}", 200), node.start_mark,
                           fix="write the value in a form YAML reads (quote it to make it a string)") from None

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise Refused(f"the number has {len(node.value):,} characters, more than can be read",
                           node.start_mark, fix="write a number of sensible size") from None


def _duplicate(first: yaml.ScalarNode, again: yaml.ScalarNode) -> str:
    """"key 'epochs' is given twice, on line 3 and on line 5" (or both spellings of one key)."""
    if first.value == again.value:
        what = f"key {quoted(again.value)} is given twice"
    else:
        what = f"keys {quoted(first.value)} and {quoted(again.value)} are the same key in YAML"
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
            raise Refused("a YAML alias refers to a value that contains it (a loop)", node.start_mark,
                           fix="remove the alias (*name) that points back into its own anchor (&name)")
        if key not in memo:
            children = _children(node)
            if children and depth >= MAX_DEPTH:
                raise Refused(f"nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded",
                               node.start_mark, fix="a recipe nests a few levels; check the aliases (*name)")
            active.add(key)
            sizes = [walk(child, depth + 1, active) for child in children]
            active.discard(key)
            values = 1 + sum(size for size, _ in sizes)
            memo[key] = (min(values, MAX_VALUES + 1), 1 + max((levels for _, levels in sizes), default=0))
        values, levels = memo[key]
        if depth + levels > MAX_DEPTH:
            raise Refused(f"nested more than {MAX_DEPTH} levels deep once YAML aliases are expanded",
                           node.start_mark, fix="a recipe nests a few levels; check the aliases (*name)")
        if values > MAX_VALUES and depth == 0:
            raise Refused(
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
    if isinstance(err, Refused):
        return RecipeError(f"recipe refused: {problem}.", where=f"{where}{at}", fix=err.fix)
    return RecipeError(
        f"recipe is not valid YAML: {cut(problem, 200)}.",
        where=f"{where}{at}",
        fix="check indentation and quoting at that line",
    )
