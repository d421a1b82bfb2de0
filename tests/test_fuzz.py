"""Fuzzing `dlrecipes validate`: mutated built-in recipes and `--set` overrides.

Each case is a shipped recipe, mutated. A third gently: values changed within their type,
which pass the schema's types and reach its ranges and the checks behind it. The rest with
keys dropped, renamed or retyped (booleans, huge, negative, infinite and NaN numbers, rich
markup, long strings, lists, nulls), the YAML text then roughened (duplicate lines, tabs,
aliases, tags, odd unicode, truncation, another encoding). Each has up to two overrides
of the same kind. Whatever it is, `validate` must answer within 5 s
with exit 0 (valid) or exit 2 and one message of at most 20 kB: never a traceback, never
'failed:' (exit 1, an unexpected exception).

Derandomized: the same cases every run. DLRECIPES_FUZZ_EXAMPLES raises the budget
(`make fuzz` runs 5000).
"""

from __future__ import annotations

import copy
import json
import os
import time

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import REPO, invoke

EXAMPLES = int(os.environ.get("DLRECIPES_FUZZ_EXAMPLES", "150"))
RECIPES = {path.name: path.read_text() for path in sorted((REPO / "recipes").glob("*.yaml"))}
TIME_LIMIT = 5.0
OUTPUT_LIMIT = 20_000

# --- values -------------------------------------------------------------------------------------

ODD_TEXT = [
    "[/]", "[bold]x[/bold]", "[a-z0-9]", "[", "]", "\\[x]", ":warning:", "\x1b[2J", "\u202e", "\u200b",
    "\ufeff", "\u2028", "é", "🙂", "", " ", "\t", "null", "~", "yes", "no", "1e400", "0x1F", "-.inf", "{",
    "*alias", "&anchor", "!!python/object:os.system", "%", "@", "`", "'", '"', "#", "key: value",
]
NUMBERS = [0, -1, 1, 2**31, 2**32, 2**63, 2**64, -(2**63), 10**30, -(10**30), 10**400,
           0.0, -0.0, 1e-300, 1e300, float("inf"), float("-inf"), float("nan")]

scalars = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from(NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=12),
    st.builds(lambda char, n: char * n, st.sampled_from(["x", "[", "é", "9"]), st.sampled_from([100, 10_000, 300_000])),
)
keys = st.one_of(st.sampled_from(ODD_TEXT + ["name", "arch", "source", "epochs", "type"]), st.text(max_size=8),
                 st.integers(-3, 3), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)

# --- mutations of the parsed recipe ----------------------------------------------------------


def slots(node) -> list[tuple]:
    """Every (container, key) of the recipe: a mapping's keys and a list's indexes."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append((node, key))
        found += slots(child)
    return found


def key_paths(node, prefix="") -> list[str]:
    """Dotted paths of the recipe's keys, as --set names them."""
    found = []
    if isinstance(node, dict):
        for key, child in node.items():
            path = f"{prefix}{key}"
            found += [path] + key_paths(child, path + ".")
    return found


def same_kind(value) -> st.SearchStrategy:
    """Another value of the type `value` has: passes the schema's types, tests its ranges and
    the checks behind it."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from([0, -1, 1, 2, 3, 7, 1000, 2**31, 2**32, 10**12, -(10**12)]) | st.integers()
    if isinstance(value, float):
        return st.sampled_from([0.0, -0.0, -1.0, 1.0, 1e-12, 0.5, 0.999999, 1e12]) | st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(value, str):
        return st.sampled_from(ODD_TEXT) | st.text(max_size=12) | st.just(value.upper()) | st.just(value + "x")
    if isinstance(value, list):
        return st.just([]) | st.just(value * 3) | st.just(value[:1]) | st.just(value[::-1])
    return values


@st.composite
def mutated_tree(draw, raw: dict, gentle: bool = False) -> dict:
    """`raw` with one key dropped, renamed or retyped, a value changed within its type, or a
    key added; `gentle`: only values changed within their type."""
    raw = copy.deepcopy(raw)
    operation = "tweak" if gentle else draw(st.sampled_from(["drop", "rename", "retype", "tweak", "add"]))
    places = slots(raw)
    if operation == "add" or not places:
        containers = [raw] + [c[k] for c, k in places if isinstance(c[k], dict)]
        draw(st.sampled_from(containers))[draw(keys)] = draw(values)
        return raw
    container, key = draw(st.sampled_from(places))
    if operation == "drop":
        del container[key]
    elif operation == "rename" and isinstance(container, dict):
        container[draw(keys)] = container.pop(key)
    elif operation == "tweak":
        container[key] = draw(same_kind(container[key]))
    else:
        container[key] = draw(values)
    return raw


# --- mutations of the YAML text --------------------------------------------------------------------

LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 8))
TAGS = ["!!python/object:os.system", "!!python/name:os.system", "!!binary aGVsbG8=", "!!set {a, b}",
        "!!timestamp 2001-12-14", "2001-13-45", "!!float nan", "!!int 0x10", "!!str", "!!omap [a: 1]",
        "!!null ''", "!unknown x", "*nowhere", "&a [*a]", "{a: 1, a: 2}", "[" * 300, "? [a]\n  : 1"]


def _line_edit(text: str, index: int, edit) -> str:
    lines = text.split("\n")
    index %= max(1, len(lines))
    lines[index:index + 1] = edit(lines[index])
    return "\n".join(lines)


@st.composite
def mutated_text(draw, text: str) -> str:
    """`text` roughened the way hand-edited YAML goes wrong."""
    operation = draw(st.sampled_from(["duplicate", "tab", "tag", "alias", "laughs", "unicode", "truncate"]))
    where = draw(st.integers(0, 10_000))
    if operation == "duplicate":  # a key given twice
        return _line_edit(text, where, lambda line: [line, line])
    if operation == "tab":
        return _line_edit(text, where, lambda line: ["\t" + line])
    if operation == "tag":
        tag = draw(st.sampled_from(TAGS))
        return _line_edit(text, where, lambda line: [line.split(":")[0] + ": " + tag if ":" in line else tag])
    if operation == "alias":  # an anchor on one value, its alias in place of another
        text = _line_edit(text, where, lambda line: [line.replace(": ", ": &x ", 1)])
        return _line_edit(text, draw(st.integers(0, 10_000)), lambda line: [line.split(":")[0] + ": *x"])
    if operation == "laughs":
        return "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + LAUGHS + text
    if operation == "unicode":
        at = where % (len(text) + 1)
        return text[:at] + draw(st.sampled_from(ODD_TEXT + ["\x85", "\u0301", "\ud7ff", "\x7f"])) + text[at:]
    return text[: where % (len(text) + 1)]


# --- overrides ---------------------------------------------------------------------------------

ODD_KEYS = ["train.epocs", "model", "data", "task", "name", "a.b.c", "train.epochs.x", ".", "", "=", "x" * 300,
            "train", "model.arch", "data.source", "runtime", "target", "train.augment"]
ODD_VALUES = ["[/]", "'[/]'", "{a: 1, a: 2}", "&a [*a]", "!!python/name:os.system", "[" * 300, "9" * 5000,
              "y" * 100_000, "[[1, 2], {x: 1}]", "{arch: vgg, depth: 20}", "{}", "[]", "null", ".nan", "-.inf",
              "'", "a: b: c", "\t", "2001-13-45", "[&a [1,1,1], *a, *a]"]


@st.composite
def override(draw, raw: dict, gentle: bool = False) -> str:
    """`KEY=VALUE` for --set; `gentle`: a key of the recipe and a value of its type."""
    if gentle:
        settable = leaves(draw(mutated_tree(raw, gentle=True)))
        if settable:
            key, value = draw(st.sampled_from(settable))
            return f"{key}={json.dumps(value)}"
    key = draw(st.sampled_from(key_paths(raw) or ["name"]) | st.sampled_from(ODD_KEYS))
    value = draw(st.one_of(
        st.sampled_from(ODD_VALUES),
        values.map(lambda v: json.dumps(v)),  # JSON is YAML: lists and mappings inline
        st.text(max_size=20),
    ))
    return f"{key}={value}"


def leaves(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every value that is not a section, where --set can name it."""
    found = []
    for key, child in tree.items():
        if not (isinstance(key, str) and key.isidentifier()):
            continue
        if isinstance(child, dict):
            found += leaves(child, f"{prefix}{key}.")
        else:
            found.append((f"{prefix}{key}", child))
    return found


@st.composite
def cases(draw) -> tuple[bytes, list[str]]:
    """(the recipe file's bytes, --set expressions). A third of the cases are gentle: values
    changed within their types, which pass the schema's types and reach its ranges and the
    checks behind it; the rest are hostile."""
    raw = yaml.safe_load(RECIPES[draw(st.sampled_from(sorted(RECIPES)))])
    gentle = draw(st.sampled_from([True, False, False]))
    for _ in range(draw(st.integers(0, 3))):
        raw = draw(mutated_tree(raw, gentle))
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=draw(st.booleans()), width=10**6)
    overrides = draw(st.lists(override(raw, gentle), max_size=2))
    if gentle:
        return text.encode(), overrides
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        text = draw(mutated_text(text))
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace"), overrides


def outcome(result) -> str:
    """The kind of answer, for --hypothesis-show-statistics: how much of the fuzzing reaches
    the schema rather than stopping at YAML."""
    if result.returncode == 0:
        return "valid"
    first = result.stderr.split("\n")[0]
    return f"exit {result.returncode}: " + " ".join(first.split()[:4]).split("'")[0]


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.yaml"


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,  # the time bound is asserted below, with a message that says what took long
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(case=cases())
def test_validate_answers_every_mutated_recipe_clearly(recipe_file, case):
    content, overrides = case
    recipe_file.write_bytes(content)
    args = ["validate", str(recipe_file)] + [part for expression in overrides for part in ("--set", expression)]
    start = time.monotonic()
    result = invoke(*args)
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    event(outcome(result))
    shown = f"--set {overrides}\n{content[:2000]!r}\n---\n{output[:3000]}"
    assert result.returncode in (0, 2), shown
    assert "Traceback" not in output and "failed:" not in output, shown
    assert seconds < TIME_LIMIT, f"{seconds:.1f} s\n{shown}"
    assert len(output) <= OUTPUT_LIMIT, f"{len(output)} characters\n{shown}"
    assert "Allowed: ." not in output and "one of: ." not in output, shown
    if result.returncode == 2:
        assert result.stderr.startswith("error: ") and result.stderr.count("error: ") == 1, shown
