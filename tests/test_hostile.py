"""Hostile input: every failure is one message (what, where, fix), exit 2, no traceback,
bounded time and output.

Each test builds the real thing it is about: a FIFO, a symlink loop, non-UTF-8 bytes, an
unreadable folder. Hangs were the bug for some; those run in a subprocess with a timeout,
since an in-process hang could not be interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, cli, invoke

GOOD = """\
description: test recipe
task:
  type: multiclass
data:
  source: tfds
  name: mnist
model:
  arch: dnn
  hidden: [32]
train:
  epochs: 1
"""


def write(folder: Path, text: str | bytes, name: str = "r.yaml") -> str:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def refused(result, *expected: str) -> str:
    """Assert one clear bad-input message on stderr containing `expected`; return it."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "failed:" not in output, output
    assert result.stderr.startswith("error: "), output
    assert "Allowed: ." not in output and "one of: ." not in output, output
    assert len(output) < 20_000, f"{len(output)} characters of output"
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


def timed(call, *args, limit: float = 5.0, **kwargs):
    start = time.monotonic()
    result = call(*args, **kwargs)
    assert time.monotonic() - start < limit, f"took {time.monotonic() - start:.1f} s"
    return result


# --- rich markup in user text -----------------------------------------------------------------


def test_markup_in_a_value_is_printed_as_text():
    stderr = refused(invoke("validate", "mnist-dnn", "--set", "train.epochs='[/]'"), "(given: '[/]')")
    assert "train.epochs" in stderr


def test_markup_in_a_pattern_is_printed_as_text():
    refused(invoke("validate", "mnist-dnn", "--set", "name=UPPER"), "'^[a-z0-9][a-z0-9._-]*$'", "'UPPER'")


def test_markup_in_a_recipe_path_is_printed_as_text(tmp_path):
    good = write(tmp_path, "name: good\n" + GOOD, "[bold]good.yaml")  # the file's stem is no valid name
    bad = write(tmp_path, GOOD.replace("epochs: 1", "epochs: '[red]x'"), "[red].yaml")
    result = invoke("validate", good, bad)
    assert f"ok {good}" in result.stdout
    refused(result, bad, "'[red]x'")


def test_markup_in_an_unexpected_error_is_printed_as_text(monkeypatch):
    import dlrecipes.loader

    def broken(ref, overrides=()):
        raise RuntimeError("[/] a bug")

    monkeypatch.setattr(dlrecipes.loader, "load_recipe", broken)
    result = invoke("validate", "mnist-dnn")
    assert result.returncode == 1
    assert "failed: mnist-dnn: RuntimeError: [/] a bug" in result.stderr


def test_control_characters_are_shown_not_sent_to_the_terminal(tmp_path):
    path = write(tmp_path, GOOD + '"\\e[2Jclear": 1\n')
    stderr = refused(invoke("validate", path), "\\x1b[2Jclear")
    assert "\x1b" not in stderr


# --- bounded work and output ------------------------------------------------------------------


def laughs(levels: int = 9, indent: str = "") -> str:
    """Ten lines of nested aliases that expand to 10**levels values."""
    lines = [f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once(tmp_path):
    path = write(tmp_path, laughs())
    result = timed(cli, "validate", path, timeout=60)
    refused(result, "expands to more than 10,000 values", "line 4", "remove the repeated aliases")


def test_alias_bomb_inside_augment_is_refused_at_once(tmp_path):
    bomb = "".join(f"  - &s{i} {{name: random_flip, mode: [" + ", ".join([f"*s{i - 1}"] * 10) + "]}\n"
                   for i in range(1, 9))
    text = GOOD + "  augment:\n  - &s0 {name: random_flip}\n" + bomb
    result = timed(cli, "validate", write(tmp_path, text), timeout=60)
    refused(result, "expands to more than 10,000 values")


def test_alias_bomb_in_an_override_is_refused_at_once():
    levels = ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    result = timed(cli, "validate", "mnist-dnn", "--set", f"model.hidden=[{', '.join(levels)}]", timeout=60)
    refused(result, "override value refused", "more than 10,000 values", "--set model.hidden=")


def test_alias_that_contains_itself_is_refused(tmp_path):
    path = write(tmp_path, GOOD + "  augment: &loop [*loop]\n")
    refused(invoke("validate", path), "refers to a value that contains it", "line 12")


def test_a_recipe_file_over_1_mb_is_refused_before_parsing(tmp_path):
    path = write(tmp_path, GOOD + "# " + "x" * 1_100_000 + "\n")
    refused(timed(invoke, "validate", path, limit=2), "larger than 1,000,000 bytes", path)


def test_nesting_500_deep_is_a_clear_error(tmp_path):
    path = write(tmp_path, GOOD.replace("hidden: [32]", "hidden: " + "[" * 500 + "]" * 500))
    refused(invoke("validate", path), "nested more than 100 levels deep", "line 9")


def test_nesting_deep_through_aliases_is_a_clear_error(tmp_path):
    chain = ["d0: &d0 " + "[" * 60 + "]" * 60]
    chain += [f"d{i}: &d{i} " + "[" * 60 + f"*d{i - 1}" + "]" * 60 for i in range(1, 4)]
    refused(invoke("validate", write(tmp_path, "\n".join(chain) + "\n" + GOOD)), "levels deep once YAML aliases")


def test_hundreds_of_problems_are_listed_briefly(tmp_path):
    path = write(tmp_path, GOOD + "".join(f"  key{i}: 1\n" for i in range(500)))
    stderr = refused(timed(invoke, "validate", path, limit=5), "(500 problems)", "train.key0 (line 12)")
    assert "... and 480 more" in stderr
    assert len(stderr.splitlines()) < 25


def test_a_long_value_is_echoed_cut(tmp_path):
    path = write(tmp_path, GOOD.replace("epochs: 1", "epochs: " + "9x" * 450_000))
    stderr = refused(timed(invoke, "validate", path), "(given: '9x9x9x", "…")
    assert len(stderr) < 2_000


def test_a_long_override_is_echoed_cut():
    stderr = refused(invoke("validate", "mnist-dnn", "--set", "train.epochs=" + "y" * 1_000_000), "…")
    assert len(stderr) < 2_000


# --- YAML that would silently mislead ----------------------------------------------------------


def test_duplicate_key_names_the_key_and_both_lines(tmp_path):
    path = write(tmp_path, GOOD.replace("  epochs: 1\n", "  epochs: 1\n  batch_size: 8\n  epochs: 2\n"))
    refused(invoke("validate", path), "key 'epochs' is given twice, on line 11 and on line 13", "keep one")


def test_duplicate_key_in_an_override_is_refused():
    refused(invoke("validate", "mnist-dnn", "--set", "model={arch: dnn, arch: cnn}"), "key 'arch' is given twice")


def test_a_number_too_long_to_convert_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("epochs: 1", "epochs: " + "9" * 5000))
    refused(invoke("validate", path), "the number has 5,000 characters", "line 11")
    refused(invoke("validate", "mnist-dnn", "--set", "train.epochs=" + "9" * 5000), "5,000 characters", "--set")


def test_an_impossible_date_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("description: test recipe", "description: 2001-13-45"))
    refused(invoke("validate", path), "cannot read this value", "line 1")


# --- files --------------------------------------------------------------------------------------


def test_non_utf8_recipe_names_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("test recipe", "café").encode("latin-1"))
    refused(invoke("validate", path), "not UTF-8 text", "byte 0xe9", "line 1, column 17", "iconv")


def test_symlink_loop(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    refused(invoke("validate", str(loop)), "too many levels of symbolic links", str(loop))


def test_fifo_in_the_recipes_folder_does_not_block(tmp_path):
    (tmp_path / "recipes").mkdir()
    os.mkfifo(tmp_path / "recipes" / "x.yaml")  # no writer: opening it for reading would wait forever
    result = timed(cli, "validate", "x", cwd=tmp_path, timeout=60, limit=30)
    refused(result, "a FIFO (named pipe), not a regular file", "recipes/x.yaml")


def test_folder_and_device_are_not_recipe_files(tmp_path):
    refused(invoke("validate", f"{tmp_path}/"), "is a folder, not a regular file")
    refused(invoke("validate", "/dev/null"), "is a character device, not a regular file")


def test_name_too_long_for_the_file_system():
    refused(invoke("validate", "x" * 300 + ".yaml"), "file name too long", "xxx…")
    refused(invoke("validate", "x" * 300), "no recipe named 'xxx")


@contextlib.contextmanager
def as_nobody():
    """Run the block without root's right to read anything: root ignores file modes, so as
    root the test drops its effective uid to nobody's (and takes root back after)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_folder_without_read_permission(monkeypatch):
    invoke("validate", "mnist-dnn")  # imports everything while it can still read it
    # A folder nobody may enter: pytest's tmp_path is root's alone (mode 700).
    home = Path(tempfile.mkdtemp())
    try:
        home.chmod(0o755)
        recipes = home / "recipes"
        recipes.mkdir()
        write(recipes, GOOD, "x.yaml")
        write(home, GOOD, "locked.yaml")
        (home / "locked.yaml").chmod(0o000)
        recipes.chmod(0o000)
        monkeypatch.chdir(home)
        with as_nobody():
            by_name = invoke("validate", "x")
            by_path = invoke("validate", "recipes/x.yaml")
            locked = invoke("validate", "locked.yaml")
            builtin = invoke("validate", "mnist-dnn")  # the other folder still answers
            # A checkout inside a folder of root's alone (mktemp -d) is closed to nobody too.
            builtin_open = os.access(REPO / "recipes", os.R_OK | os.X_OK, effective_ids=True)
        refused(by_name, "no recipe named 'x'", f"{recipes} (Permission denied)")
        refused(by_path, "cannot read recipe file 'recipes/x.yaml': permission denied")
        refused(locked, "cannot read recipe file: Permission denied", "locked.yaml")
        if builtin_open:
            assert builtin.returncode == 0, builtin.stderr
        else:
            refused(builtin, "no recipe named 'mnist-dnn'")
    finally:
        recipes.chmod(0o755)
        shutil.rmtree(home)


def test_validate_checks_every_file_whatever_fails(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    bad = write(tmp_path, b"description: \xff\n")
    result = timed(cli, "validate", str(fifo), "mnist-dnn", bad, "no-such-recipe", timeout=60, limit=30)
    assert result.returncode == 2, result.stderr
    assert "ok " in result.stdout and "mnist-dnn.yaml" in result.stdout
    assert result.stderr.count("error: ") == 3, result.stderr
    assert "FIFO" in result.stderr and "not UTF-8" in result.stderr and "no recipe named" in result.stderr


def test_validate_checks_every_file_after_an_unexpected_error(monkeypatch):
    import dlrecipes.loader

    real = dlrecipes.loader.load_recipe

    def sometimes_broken(ref, overrides=()):
        if ref == "mnist-cnn":
            raise TypeError("a bug in a check")
        return real(ref, overrides)

    monkeypatch.setattr(dlrecipes.loader, "load_recipe", sometimes_broken)
    result = invoke("validate", "mnist-cnn", "mnist-dnn", "--set", "train.epocs=1")
    assert result.returncode == 1  # a bug outranks bad input
    assert "failed: mnist-cnn: TypeError: a bug in a check" in result.stderr
    assert "unknown key 'epocs'" in result.stderr  # the second file was still checked
    assert "Traceback" not in result.stderr


# --- no empty lists of choices --------------------------------------------------------------


def test_missing_discriminator_lists_the_registered_choices():
    stderr = refused(invoke("validate", "mnist-dnn", "--set", "model={}", "--set", "data={}"))
    assert "model.arch (--set model={}): missing key 'arch'. Choose one of: alexnet, cnn," in stderr
    assert "data.source (--set data={}): missing key 'source'. Choose one of: csv," in stderr


def test_a_literal_lists_its_allowed_values():
    refused(invoke("validate", "fashion-mnist-vgg", "--set", "model.depth=20"),
            "model.depth (--set model.depth=20): 20 is not allowed. Allowed: 11, 13, 16, 19.")


# --- list and runs with one bad entry ------------------------------------------------------------


def test_list_shows_the_others_and_each_invalid_recipe_below_the_table(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    write(recipes, "name: mine\n" + GOOD, "[bold]mine.yaml")
    write(recipes, GOOD.replace("hidden: [32]", "hiden: [32]"), "typo.yaml")
    write(recipes, b"description: caf\xe9\n", "latin.yaml")
    os.mkfifo(recipes / "fifo.yaml")
    (recipes / "loop.yaml").symlink_to(recipes / "loop.yaml")
    result = timed(cli, "list", cwd=tmp_path, timeout=120, limit=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "235,146" in rows["mnist-dnn"] and "25,450" in rows["[bold]mine"]  # the others, whole
    for name in ("typo", "latin", "fifo", "loop"):
        assert rows[name].split()[1] == "invalid"
    assert "hiden" not in result.stdout  # problems go below the table, not into its cells
    assert all(len(line) <= 200 for line in result.stdout.splitlines())
    assert f"error: recipe 'typo' ({recipes / 'typo.yaml'}) is invalid: model.hiden (line 9): unknown key" in result.stderr
    assert "recipe 'latin'" in result.stderr and "not UTF-8" in result.stderr
    assert "recipe 'fifo'" in result.stderr and "FIFO" in result.stderr
    assert "recipe 'loop'" in result.stderr and "symbolic links" in result.stderr
    assert "dlrecipes validate FILE" in result.stderr

    listed = cli("list", "--json", cwd=tmp_path, timeout=120)
    assert listed.returncode == 2
    by_name = {row["name"]: row for row in json.loads(listed.stdout)}
    assert "unknown key 'hiden'" in by_name["typo"]["error"]
    assert "error" not in by_name["mnist-dnn"] and by_name["mnist-dnn"]["params"] == 235_146


def make_run(runs: Path, name: str, run_json: str | bytes | None = None, metrics: str | bytes | None = None) -> None:
    folder = runs / name
    folder.mkdir(parents=True)
    info = {"recipe": "mnist-dnn", "status": "complete", "started": "2024-01-01T00:00:00Z", "epochs_done": 2}
    for file, content in (("run.json", run_json or json.dumps(info)),
                          ("metrics.json", metrics or '{"test": {"accuracy": 0.97, "loss": 0.1}}'),
                          ("history.csv", "epoch,loss\n1,0.2\n2,0.1\n")):  # a complete run has both
        write(folder, content, file)


def test_runs_lists_the_others_and_marks_corrupt_runs_unreadable(tmp_path):
    make_run(tmp_path, "good")
    make_run(tmp_path, "metrics-invalid", metrics="{not json")
    make_run(tmp_path, "metrics-list", metrics="[1, 2]")
    make_run(tmp_path, "metrics-truncated", metrics='{"test": {"accuracy": 0.9')
    make_run(tmp_path, "metrics-latin1", metrics=b'{"test": {"pr\xe9cision": 0.9}}')
    make_run(tmp_path, "run-invalid", run_json="status: complete")
    make_run(tmp_path, "run-list", run_json="[]")
    make_run(tmp_path, "[bold]markup", run_json='{"recipe": "[/]", "status": "running", "started": 7}')
    result = invoke("runs", "--runs-dir", str(tmp_path))
    stderr = refused(result, "error: run 'metrics-invalid' is unreadable: metrics.json: not valid JSON")
    assert "run 'metrics-list' is unreadable: metrics.json holds a JSON list, not an object" in stderr
    assert "run 'metrics-truncated' is unreadable: metrics.json: not valid JSON" in stderr
    assert "run 'metrics-latin1' is unreadable: metrics.json: not UTF-8 text" in stderr
    assert "run 'run-invalid' is unreadable: run.json: not valid JSON" in stderr
    assert "run 'run-list' is unreadable: run.json holds a JSON list" in stderr
    assert "accuracy 0.9700" in result.stdout  # the good run, with its metrics
    assert "[bold]markup" in result.stdout and "incomplete (stopped)" in result.stdout  # no process owns it
    assert result.stdout.count("unreadable") == 6

    rows = {row["run"]: row for row in json.loads(invoke("runs", "--runs-dir", str(tmp_path), "--json").stdout)}
    assert rows["good"]["status"] == "complete" and "error" not in rows["good"]
    assert rows["run-list"]["status"] == "unreadable" and "JSON list" in rows["run-list"]["error"]


def test_a_corrupt_run_is_named_when_used(tmp_path):
    make_run(tmp_path, "broken", run_json="{")
    refused(invoke("evaluate", "broken", "--runs-dir", str(tmp_path)), "run 'broken' cannot be read: run.json: not valid JSON")


def test_a_damaged_checkpoint_is_one_message(tmp_path):
    from dlrecipes.errors import RecipeError
    from dlrecipes.train.checkpoint import FOLDER, MANIFEST, read_state

    (tmp_path / FOLDER).mkdir()
    (tmp_path / FOLDER / MANIFEST).write_text('{"epochs_done": ')
    with pytest.raises(RecipeError, match="damaged checkpoint"):
        read_state(tmp_path)
    (tmp_path / FOLDER / MANIFEST).write_text('{"epochs_done": 1, "weights": "../x", "state": "y", "sha256": {}}')
    with pytest.raises(RecipeError, match="not a checkpoint manifest"):
        read_state(tmp_path)


def test_run_status_is_an_enum_written_as_plain_json(tmp_path):
    from dlrecipes import runs

    assert [s.value for s in runs.RunStatus] == ["running", "complete", "interrupted", "failed"]
    assert runs.COMPLETE is runs.RunStatus.COMPLETE and f"{runs.RunStatus.FAILED}" == "failed"
    run, lock = runs.create(tmp_path, "mnist-dnn", {}, {})
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    runs.update(run, status=runs.RunStatus.INTERRUPTED)
    lock.release()
    assert runs.info(run)["status"] == runs.RunStatus.INTERRUPTED == "interrupted"


def test_the_shipped_recipes_are_far_inside_the_budgets():
    from dlrecipes import yamlio

    for path in sorted((REPO / "recipes").glob("*.yaml")):
        assert path.stat().st_size < yamlio.MAX_FILE_BYTES // 100
        yamlio.read_yaml(path)  # within the depth and value budgets, no duplicate keys


def test_exponent_floats_are_numbers_and_strings_like_them_survive_a_round_trip(tmp_path):
    """YAML 1.1 reads 1e-3 as text; lr-find suggests `--set ...learning_rate=1e-05`."""
    from dlrecipes import runs
    from dlrecipes.loader import load_recipe

    path = write(tmp_path, GOOD.replace("epochs: 1", "epochs: 1\n  optimizer: {learning_rate: 1e-3}"), "1e5.yaml")
    recipe = load_recipe(path, ["train.optimizer.weight_decay=1E-05"]).recipe
    assert recipe.name == "1e5" and recipe.train.optimizer.learning_rate == 0.001
    assert recipe.train.optimizer.weight_decay == 1e-5
    runs.write_atomic(tmp_path / "recipe.yaml", runs.recipe_text(recipe))  # the name '1e5' must come back a string
    assert runs.load_run_recipe(tmp_path) == recipe
