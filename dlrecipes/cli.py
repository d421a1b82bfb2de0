"""The `dlrecipes` command line: parse, call, render.

TensorFlow is imported only by the commands that train, evaluate or export; `--help`,
`list`, `describe`, `validate`, `schema` and `runs` never import it. Exit codes: 0 success,
1 failure, 2 bad input, 3 dataset unavailable, 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dlrecipes import __version__, consoles, interrupts, tf_quiet
from dlrecipes.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    DataUnavailableError,
    RecipeError,
    is_disk_full,
)

app = typer.Typer(
    name="dlrecipes",
    help="Declarative recipes for training the classic deep-learning architectures with Keras.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output is read by scripts, grep and people reading logs: whole lines (consoles.make).
out = consoles.make()
err = consoles.make(stderr=True)

# A message is bounded whatever it echoes: longer lines are cut, further lines counted.
MAX_LINE = 1000
MAX_LINES = 60

RecipeArg = Annotated[str, typer.Argument(help="Recipe name (see `dlrecipes list`) or path to a .yaml file.")]
RunArg = Annotated[str, typer.Argument(help="Run folder, run name, or recipe name (its latest complete run).")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a recipe key, e.g. --set train.epochs=3 (repeatable)."),
]
RunsDirOpt = Annotated[
    Optional[Path], typer.Option("--runs-dir", help="Where runs live (default: $DLRECIPES_RUNS_DIR, else ./runs).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


def handles_errors(command):
    """Turn errors into one message and a meaningful exit code, never a traceback.

    Once a signal came (Ctrl-C, SIGTERM), whatever error surfaces is reported as the
    interrupt: Python raises KeyboardInterrupt wherever the main thread is, and inside
    TensorFlow or Keras it can come out as another error (a TypeError from a layer's call,
    a SystemError from C code, a converter's error wrapping it).
    Set DLRECIPES_DEBUG=1 to see the traceback of an unexpected error.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as interrupt:
            _interrupted(interrupt)
        except Exception as error:  # noqa: BLE001 - the one place errors are reported
            if interrupts.received() is not None:
                _interrupted(error)
            if isinstance(error, RecipeError):
                print_problem("error:", str(error))
                if getattr(error, "leave_at_once", False):  # e.g. a multi-worker cluster lost a worker
                    interrupts.leave(error.exit_code)
                raise typer.Exit(error.exit_code) from None
            if is_disk_full(error):
                print_problem("error:", str(RecipeError(
                    f"no space left on device: {getattr(error, 'filename', None) or 'a file'} could not be written.",
                    fix="free some space on that disk (df -h shows it), or write elsewhere")))
                raise typer.Exit(EXIT_FAILURE) from None
            report_unexpected(error)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


def _interrupted(error: BaseException) -> None:
    if not getattr(error, "reported", False):  # training says how to continue instead
        err.print("[yellow]interrupted[/]")
    raise typer.Exit(interrupts.exit_code(EXIT_INTERRUPTED)) from None


def report_unexpected(error: Exception, context: str = "") -> None:
    """'failed: TypeError: ...' (a bug, exit 1); DLRECIPES_DEBUG=1 re-raises it for the traceback."""
    if _debugging():
        raise error
    print_problem("failed:", f"{context}{type(error).__name__}: {error}")


def _debugging() -> bool:
    return bool(os.environ.get("DLRECIPES_DEBUG"))


def print_problem(prefix: str, message: str) -> None:
    """A red prefix, then the message exactly as written: never read as rich markup, since
    it echoes user text (a value '[/]', a pattern '[a-z]'), and bounded in size."""
    err.print(Text.assemble((prefix, "bold red"), " ", _bounded(_clean(message))), highlight=False, soft_wrap=True)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """`text` with control characters written as escapes: a recipe's "\\e[2J" is shown, not
    sent to the terminal (which would clear the screen)."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _esc(value) -> str:
    """A value, path or name for a markup string or a table cell: printed as itself."""
    return escape(_clean(str(value)))


def _bounded(text: str) -> str:
    lines = [line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…" for line in text.split("\n")]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [f"  … and {len(lines) - MAX_LINES} more lines"]
    return "\n".join(lines)


def _runs_dir(path: Path | None) -> Path:
    from dlrecipes.runs import default_runs_dir

    return path or default_runs_dir()


def _plain_table() -> Table:
    """A borderless table, easy to read and to grep; its cells are what users copy."""
    return Table(box=None, pad_edge=False, header_style="bold")


def _print_json(obj) -> None:
    out.print_json(json.dumps(obj))


def _dataset_name(data) -> str:
    """tfds' dataset name, else the data file's name, else the source."""
    if getattr(data, "name", None):
        return data.name
    if getattr(data, "path", None):
        return Path(data.path).name
    return data.source


@app.command("list")
@handles_errors
def list_(as_json: JsonOpt = False):
    """List the recipes: name, task, architecture, dataset, parameters, target.

    A recipe that does not load is listed as invalid, its first problem printed below the
    table, and the exit code is 2 (1 if it failed unexpectedly); the others are listed.
    """
    from dlrecipes.loader import all_recipes, unreadable_dirs

    rows, invalid, failed = [], [], []
    for name, path in all_recipes().items():
        row = {"name": name, "path": str(path)}
        try:
            row.update(_recipe_row(path))
        except RecipeError as error:
            row["error"] = _first_problem(error, path)
            invalid.append(f"recipe '{name}' ({path}) is invalid: {row['error']}")
        except Exception as error:  # noqa: BLE001 - one broken recipe must not hide the others
            if _debugging():
                raise
            row["error"] = f"{type(error).__name__}: {error}"
            failed.append(f"recipe '{name}' ({path}): {row['error']}")
        rows.append(row)
    unreadable = [f"cannot list the recipes in {folder}: {why}." for folder, why in unreadable_dirs().items()]
    if as_json:
        _print_json(rows)
    else:
        out.print(_recipes_table(rows))
    for message in invalid + unreadable:
        print_problem("error:", message)
    for message in failed:
        print_problem("failed:", message)
    if invalid:
        err.print("  fix:   `dlrecipes validate FILE` shows every problem of a recipe", highlight=False)
    if failed:
        raise typer.Exit(EXIT_FAILURE)
    if invalid or unreadable:
        raise typer.Exit(EXIT_BAD_INPUT)


def _recipe_row(path: Path) -> dict:
    """A valid recipe's columns of `list`."""
    from dlrecipes.loader import load_recipe
    from dlrecipes.summary import summarize

    loaded = load_recipe(str(path))
    recipe, target = loaded.recipe, loaded.recipe.target
    row = dict(
        task=recipe.task.type,
        architecture=recipe.model.arch,
        source=recipe.data.source,
        dataset=_dataset_name(recipe.data),
        target=str(target) if target else None,
        description=recipe.description,
        search=list(recipe.search),  # the keys `dlrecipes tune` searches
    )
    try:
        row["params"] = summarize(recipe, loaded.signature)["params"]
    except DataUnavailableError:
        row["params"] = None  # the model's size depends on data that is not here (your own files)
    return row


def _first_problem(error: RecipeError, path: Path) -> str:
    """A recipe's RecipeError in one line: its first detail, else what and where in the file
    (the line; the path is shown beside it already)."""
    if error.details:
        return error.details[0].strip()
    where = (error.where or "").replace(os.path.abspath(path), "").replace(str(path), "").lstrip(", ")
    return error.what + (f" ({where})" if where else "")


def _recipes_table(rows: list[dict]) -> Table:
    """The recipes; an invalid one says so in one short cell (its problem goes below the
    table: a long message in a cell would squeeze every column)."""
    table = _plain_table()
    for column in ("name", "task", "arch", "dataset", "params", "target", "search"):
        table.add_column(column, justify="right" if column == "params" else "left", no_wrap=True)
    for row in rows:
        if "error" in row:
            table.add_row(_esc(row["name"]), "[red]invalid[/]", "[dim](see below)[/]", "", "", "", "")
        else:
            params = f"{row['params']:,}" if row["params"] is not None else "[dim]needs data[/]"
            searched = f"{len(row['search'])} key{'s' if len(row['search']) > 1 else ''}" if row["search"] else ""
            table.add_row(_esc(row["name"]), _esc(row["task"]), _esc(row["architecture"]), _esc(row["dataset"]),
                          params, _esc(row["target"] or ""), searched)
    return table


@app.command()
@handles_errors
def describe(recipe: RecipeArg, overrides: SetOpt = None, as_json: JsonOpt = False):
    """Show the resolved recipe and the model's layers with parameter counts (no data loaded)."""
    from rich.syntax import Syntax

    from dlrecipes.loader import load_recipe
    from dlrecipes.yamlio import dump_yaml
    from dlrecipes.summary import summarize

    loaded = load_recipe(recipe, overrides or [])
    resolved = loaded.recipe.model_dump(mode="json")
    summary = summarize(loaded.recipe, loaded.signature)
    searched = {key: dimension.model_dump(mode="json") for key, dimension in loaded.recipe.search.items()}
    if as_json:
        return _print_json({"recipe": resolved, "path": str(loaded.path), "model": summary, "search": searched})
    out.print(f"[bold]{_esc(loaded.recipe.name)}[/] ({_esc(loaded.path)})")
    out.print(Syntax(dump_yaml(resolved), "yaml", background_color="default"))
    table = Table(title=_esc(f"model '{summary['model']}': input {tuple(summary['input_shape'])}"))
    for column, justify in (("layer", "left"), ("type", "left"), ("output shape", "left"), ("params", "right")):
        table.add_column(column, justify=justify)
    for layer in summary["layers"]:
        shape = tuple(layer["output_shape"]) if layer["output_shape"] is not None else "?"
        table.add_row(_esc(layer["name"]), _esc(layer["type"]), _esc(shape), f"{layer['params']:,}")
    table.add_section()
    table.add_row("total", "", "", f"{summary['params']:,}")
    table.add_row("trainable", "", "", f"{summary['trainable_params']:,}")
    out.print(table)
    if searched:
        _show_search(loaded.recipe)


def _show_search(recipe) -> None:
    """describe's section on the search space: what `dlrecipes tune` tries, judged by what."""
    from dlrecipes.search import objective

    monitor, direction = objective(recipe)
    table = Table(title=f"search space (dlrecipes tune: trials judged by {_esc(monitor)}, {direction})")
    table.add_column("key")
    table.add_column("values")
    for key, dimension in recipe.search.items():
        table.add_row(_esc(key), _esc(dimension))
    out.print(table)


@app.command()
@handles_errors
def validate(
    files: Annotated[list[str], typer.Argument(help="Recipe names or .yaml files.")],
    overrides: SetOpt = None,
):
    """Check recipes against the schema and the task table, without loading data.

    Every file is checked, whatever happens to the others: exit 2 if any is invalid, 1 if
    any failed unexpectedly (a bug).
    """
    from dlrecipes.loader import load_recipe

    codes = set()
    for ref in files:
        try:
            loaded = load_recipe(ref, overrides or [])
            out.print(Text.assemble(("ok", "green"), " ", _clean(str(loaded.path))), highlight=False)
        except RecipeError as error:
            print_problem("error:", str(error))
            codes.add(error.exit_code)
        except Exception as error:  # noqa: BLE001 - one broken recipe must not stop the others' checks
            report_unexpected(error, context=f"{ref}: ")
            codes.add(EXIT_FAILURE)
    if codes:
        raise typer.Exit(EXIT_FAILURE if EXIT_FAILURE in codes else max(codes))


@app.command()
def schema():
    """Print the recipe JSON Schema (for editor autocompletion and validation)."""
    from dlrecipes.recipe import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
@handles_errors
def train(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (see `dlrecipes list`) or path to a .yaml file.")] = None,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", help="Continue an interrupted run (folder or name) from its last checkpoint.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override train.epochs.", min=1)] = None,
    overrides: SetOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Override train.seed.", min=0)] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        help="Sets data.data_dir: prepared tfds data (else TFDS_DATA_DIR), or the folder of a recipe's data files (else DLRECIPES_DATA_DIR).")] = None,
    runs_dir: RunsDirOpt = None,
    strategy: Annotated[
        Optional[str], typer.Option(help="tf.distribute strategy: auto, one-device, mirrored, multi-worker (TF_CONFIG's cluster).", rich_help_panel="Runtime")
    ] = None,
    mixed_precision: Annotated[
        Optional[bool], typer.Option("--mixed-precision/--no-mixed-precision", help="float16 (GPU) / bfloat16 (CPU) compute.", rich_help_panel="Runtime")
    ] = None,
    xla: Annotated[
        Optional[bool], typer.Option("--xla/--no-xla", help="Force XLA compilation on or off (default: Keras decides; off on CPUs).", rich_help_panel="Runtime")
    ] = None,
    deterministic: Annotated[
        Optional[bool], typer.Option("--deterministic", help="Bit-identical runs for the same seed (TF op determinism).", rich_help_panel="Runtime")
    ] = None,
    track: Annotated[Optional[str], typer.Option(
        help="Also record the run in an experiment tracker: mlflow (needs the mlflow extra). Default: $DLRECIPES_TRACKING.")] = None,
    folds: Annotated[Optional[int], typer.Option(
        "--folds", metavar="K", min=2,
        help="Cross-validate: K runs, each validated on one fold of the training data, then each validation metric's mean and spread (sets data.split.folds).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's metrics (with --folds: the summary) as JSON.")] = False,
):
    """Train a recipe into a new run directory (model, history, metrics, curves), or resume one."""
    if resume is not None and folds is not None:
        raise RecipeError("--folds cross-validates a recipe in new runs; --resume continues one run.",
                          fix=f"dlrecipes train --resume {resume} (a fold's run resumes like any run), "
                              "or dlrecipes train RECIPE --folds K")
    if resume is not None:
        given = [recipe, overrides, epochs, seed, data_dir, strategy, mixed_precision, xla, deterministic]
        return _resume(resume, runs_dir, given=any(value is not None and value != [] for value in given), track=track)
    if recipe is None:
        raise RecipeError("no recipe given.", fix="dlrecipes train RECIPE (see `dlrecipes list`), or --resume RUN")
    from dlrecipes.loader import load_recipe

    sets = list(overrides or [])
    flags = {
        "train.epochs": epochs, "train.seed": seed, "data.data_dir": data_dir,
        "runtime.strategy": strategy, "runtime.mixed_precision": mixed_precision,
        "runtime.jit_compile": None if xla is None else str(xla).lower(),
        "runtime.deterministic": "true" if deterministic else None,
    }
    sets += [f"{key}={value}" for key, value in flags.items() if value is not None]
    loaded = load_recipe(recipe, sets)
    from dlrecipes.data.splits import folds_of

    k, fold = folds_of(loaded.recipe.data)
    if folds is not None or (k is not None and fold is None):
        from dlrecipes.train.folds import cross_validate

        return _report_folds(cross_validate(loaded.recipe, folds or k, _runs_dir(runs_dir), console=err, track=track),
                             as_json)
    from dlrecipes.train.fit import train as train_recipe

    _report(train_recipe(loaded.recipe, runs_dir=_runs_dir(runs_dir), console=err, track=track), as_json)


def _resume(ref: str, runs_dir, given, track: str | None = None) -> None:
    from dlrecipes.runs import find_run

    if given:
        raise RecipeError(
            "--resume continues a run with its own recipe and runtime; a recipe, --set, --epochs, "
            "--seed, --data-dir or a runtime flag cannot change it.",
            fix=f"dlrecipes train --resume {ref}",
        )
    path = find_run(ref, _runs_dir(runs_dir), complete=False)
    from dlrecipes.train.fit import resume

    _report(resume(path, console=err, track=track))


def _report(run, as_json: bool = False) -> None:
    if run is None:  # a multi-worker non-chief: the chief reports the run
        return
    from dlrecipes.runs import read_run_json

    metrics = read_run_json(run, "metrics.json")
    if as_json:
        return _print_json({"run": str(run), "metrics": metrics})
    out.print(f"[green]done[/] {_esc(run)}\n  test: {_esc(_metrics_text(metrics['test']))}")


def _report_folds(cv, as_json: bool) -> None:
    """Each fold's validation and test metrics, then their mean and standard deviation."""
    if cv is None:  # a multi-worker non-chief: the chief reports the runs
        return
    summary = cv.as_dict()
    if as_json:
        return _print_json({**summary, "summary": str(cv.summary)})
    columns = [(split, name) for split in ("validation", "test") for name in summary[split]]
    table = _plain_table()
    for header in ("fold", *(f"{'val' if split == 'validation' else split} {name}" for split, name in columns), "epochs", "run"):
        table.add_column(header, justify="left" if header in ("fold", "run") else "right")
    for row in summary["folds"]:
        values = [_number(row[split].get(name)) for split, name in columns]
        table.add_row(str(row["fold"]), *values, str(row["epochs"]), _esc(Path(row["run"]).name))
    for stat in ("mean", "std"):
        table.add_row(f"[bold]{stat}[/]", *(_number(summary[split][name][stat]) for split, name in columns), "", "")
    out.print(f"[green]done[/] cross-validation {_esc(cv.group)}: {cv.k} folds of {_esc(cv.recipe)}")
    out.print(table)
    out.print(f"summary: {_esc(cv.summary)}", soft_wrap=True)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _metrics_text(metrics: dict) -> str:
    """'accuracy 0.9812  loss 0.0612'; a value that is not a number (a hand-edited file) as is."""
    def shown(value) -> str:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f"{value:.4f}" if is_number else str(value)

    return "  ".join(f"{key} {shown(value)}" for key, value in metrics.items())


TtaOpt = Annotated[Optional[list[str]], typer.Option(
    "--tta", help="Test-time augmentation of image inputs, next to the plain score: flip, crops or flip+crops (repeatable).")]


@app.command()
@handles_errors
def ensemble(
    members: Annotated[list[Path], typer.Argument(help="Run folders, or snapshot files RUN/snapshots/epoch-K.keras.")],
    tta: TtaOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Average several trained models' predictions; test metrics of the ensemble and of each member."""
    from dlrecipes.runs import find_run

    paths = [m if m.suffix == ".keras" else find_run(str(m), _runs_dir(runs_dir)) for m in members]
    from dlrecipes.ensemble import evaluate_ensemble

    results = evaluate_ensemble(paths, tta=tta)
    if as_json:
        return _print_json(results)
    keys = list(results["ensemble"])
    table = Table(title=f"test split, {results['test_examples']} examples")
    table.add_column("model")
    for key in keys:
        table.add_column(_esc(key), justify="right")
    for mode, scored in (("", results), *((f" + tta {m}", r) for m, r in results.get("tta", {}).items())):
        for name, metrics in scored["members"].items():
            table.add_row(_esc(name + mode), *(f"{metrics[k]:.4f}" for k in keys))
        table.add_row(f"[bold]ensemble (mean){_esc(mode)}[/]", *(f"[bold]{scored['ensemble'][k]:.4f}[/]" for k in keys))
    out.print(table)


data_app = typer.Typer(help="Look at a recipe's data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
@handles_errors
def data_inspect(
    recipe: RecipeArg,
    overrides: SetOpt = None,
    examples: Annotated[Optional[int], typer.Option(
        help="Training examples listed, and drawn in --grid (default: 3 listed, 36 drawn).", min=0, max=100)] = None,
    grid: Annotated[Optional[Path], typer.Option(
        help="Images: write a grid of training examples here (PNG), each under its class name.")] = None,
    as_json: JsonOpt = False,
):
    """Counts per split, class balance, a summary of the inputs and a few examples (and a
    grid of labelled images)."""
    from dlrecipes.loader import load_recipe

    loaded = load_recipe(recipe, list(overrides or []))
    if grid is not None:
        from dlrecipes.writable import require_writable_file

        require_writable_file(grid, option="--grid", suffix=".png")  # before the data is loaded
    from dlrecipes.inspect import inspect_data

    report = inspect_data(loaded.recipe, examples=examples, grid=grid)
    if as_json:
        return _print_json(report)
    out.print(f"[bold]{_esc(report['recipe'])}[/]: {_esc(report['source'])} data, "
              f"inputs {_esc(tuple(report['input']['shape']))} {_esc(report['input']['dtype'])}")
    table = _plain_table()
    table.add_column("split")
    table.add_column("examples", justify="right")
    table.add_column("labels")
    for role, entry in report["splits"].items():
        if "class_balance" in entry:
            total = max(1, entry["examples"])
            labels = "  ".join(f"{k} {v} ({v / total:.0%})" for k, v in entry["class_balance"].items())
        else:
            t = entry.get("target", {})
            labels = f"mean {t.get('mean', 0):.4g}, std {t.get('std', 0):.4g}, range {t.get('min', 0):.4g}..{t.get('max', 0):.4g}"
        table.add_row(_esc(role), f"{entry['examples']:,}", _esc(labels))
    out.print(table)
    _print_inspected_inputs(report)
    if "grid" in report:
        out.print(f"grid of {len(report['grid_labels'])} training images, labelled: {_esc(report['grid'])}")


def _print_inspected_inputs(report: dict) -> None:
    """`data inspect`'s summary of the training inputs and its listed examples, as tables."""
    from dlrecipes.inspect import example_cells, summary_rows

    out.print()
    table = _plain_table()
    table.add_column("input")
    table.add_column("summary (training split)")
    for name, text in summary_rows(report["splits"]["train"]["inputs"]):
        table.add_row(_esc(name), _esc(text))
    out.print(table)
    examples = report.get("examples", [])
    if not examples:
        return
    out.print()
    table = _plain_table()
    table.add_column("example", justify="right")
    table.add_column("training input")
    table.add_column("label" if "label" in examples[0] else "target")
    for number, example in enumerate(examples, start=1):
        shown, label = example_cells(example, report["input"]["shape"])
        table.add_row(str(number), _esc(shown), _esc(label))
    out.print(table)


@app.command("lr-find")
@handles_errors
def lr_find(
    recipe: RecipeArg,
    overrides: SetOpt = None,
    steps: Annotated[int, typer.Option(help="Training steps in the sweep.", min=20, max=10_000)] = 300,
    start: Annotated[float, typer.Option(help="First learning rate.", min=0.0)] = 1e-7,
    end: Annotated[float, typer.Option(help="Last learning rate.", min=0.0)] = 10.0,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Plot PNG (default: lr-find-RECIPE.png).")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Sweep the learning rate exponentially for a few hundred steps; plot loss vs rate, suggest one."""
    from dlrecipes.loader import load_recipe

    if not 0 < start < end:
        raise RecipeError(f"--start ({start}) must be above 0 and below --end ({end}).", where="--start / --end")
    loaded = load_recipe(recipe, list(overrides or []))
    out_file = out_file or Path(f"lr-find-{loaded.recipe.name}.png")
    from dlrecipes.writable import require_writable_file

    require_writable_file(out_file, option="--out", suffix=".png")  # before the data is loaded
    from dlrecipes.train.lr_find import plot, sweep

    result = sweep(loaded.recipe, steps=steps, start=start, end=end, runs_dir=_runs_dir(runs_dir))
    plot(result, out_file, f"{loaded.recipe.name}: learning-rate range test")
    summary = {"suggested": result.suggestion, "lowest_loss_at": result.minimum,
               "steps": len(result.losses), "plot": str(out_file)}
    if as_json:
        return _print_json(summary)
    out.print(
        f"suggested learning rate [bold]{result.suggestion:.3g}[/] (steepest fall of the loss; "
        f"lowest loss at {result.minimum:.3g}) over {len(result.losses)} steps\n"
        f"plot: {_esc(out_file)}\ntry it: --set train.optimizer.learning_rate={result.suggestion:.3g}"
    )


@app.command()
@handles_errors
def tune(
    recipe: RecipeArg,
    trials: Annotated[Optional[int], typer.Option(
        help="Trials this command adds to the study (default 10; a grid: all its points).", min=1)] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds after which no new trial starts.", min=1)] = None,
    sampler: Annotated[str, typer.Option(help="Optuna's sampler: tpe, random, grid or cmaes.")] = "tpe",
    pruner: Annotated[str, typer.Option(help="Optuna's pruner: median, asha, hyperband or none.")] = "median",
    study: Annotated[Optional[str], typer.Option(help="The study's name (default: the recipe's); the same name continues it.")] = None,
    storage: Annotated[Optional[str], typer.Option(
        help="A database URL (postgresql://, mysql://, sqlite:///) or a journal file (default: RUNS/tune-STUDY/study.journal).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler (a repeatable search).", min=0)] = None,
    space: Annotated[Optional[Path], typer.Option(help="A YAML file of keys and ranges, instead of the recipe's search: section.")] = None,
    folds: Annotated[Optional[int], typer.Option(
        "--folds", metavar="K", min=2, help="Judge each trial by the mean of a K-fold cross-validation (no pruning).")] = None,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Search hyperparameters (Optuna): each trial a run of the recipe with the search's values,
    judged by its validation metric; writes best.yaml and plots to RUNS/tune-STUDY/."""
    from dlrecipes import tune as tuning
    from dlrecipes.loader import load_recipe

    tuning.check_choice(sampler, tuning.SAMPLERS, "--sampler")
    tuning.check_choice(pruner, tuning.PRUNERS, "--pruner")
    sets = list(overrides or [])
    loaded = load_recipe(recipe, sets)
    target = loaded.recipe
    if space is not None:
        target = _with_space(target, space, loaded.signature)
    if trials is None and timeout is None and sampler != "grid":
        trials = 10
    settings = tuning.Settings(trials=trials, timeout=timeout, sampler=sampler, pruner=pruner, study=study,
                               storage=storage, seed=seed, folds=folds)
    settings = dataclasses.replace(settings, command=tuning.command_line(recipe, space, sets, settings, runs_dir))
    result = tuning.tune(target, settings, runs_dir=_runs_dir(runs_dir), console=err)
    if as_json:
        return _print_json(result)
    _show_study(result)


def _with_space(recipe, space: Path, signature):
    """The recipe with the search space of a --space file, checked as a search: section is."""
    from dlrecipes import checks
    from dlrecipes.tune import space_from_file

    recipe = recipe.model_copy(update={"search": space_from_file(space)})
    found = checks.search_problems(recipe, signature)
    if found:
        raise RecipeError(f"search space {space} does not fit recipe '{recipe.name}' ({len(found)} problem"
                          f"{'s' if len(found) > 1 else ''}):",
                          details=[f"{'.'.join(str(p) for p in problem.path[1:])}: {problem.message}" for problem in found])
    return recipe


def _show_study(result: dict) -> None:
    from dlrecipes.tune import shown_value

    keys = list(dict.fromkeys(key for trial in result["trials"] for key in trial["params"]))
    short = {key: key.split(".")[-1] for key in keys}
    if len(set(short.values())) < len(keys):  # two keys end alike (model.dropout, train.dropout)
        short = {key: key for key in keys}
    out.print(f"[bold]study {_esc(result['study'])}[/]: {len(result['trials'])} trials, judged by "
              f"{_esc(result['monitor'])} ({_esc(result['direction'])}); {_esc(result['storage'])}")
    table = _plain_table()
    for column in ("trial", "state", "value", "epochs", "time", *short.values(), "run"):
        table.add_column(_esc(column), justify="right" if column in ("trial", "value", "epochs", "time") else "left")
    for trial in result["trials"]:
        value = "" if trial["value"] is None else f"{trial['value']:.4f}"
        cells = [str(trial["number"]), trial["state"], value, "" if trial["epochs"] is None else str(trial["epochs"]),
                 "" if trial["seconds"] is None else f"{trial['seconds']:.1f} s",
                 *(shown_value(trial["params"][key]) if key in trial["params"] else "" for key in keys),
                 Path(trial["run"]).name if trial["run"] else trial.get("error", "")[:60]]
        table.add_row(*(_esc(cell) for cell in cells), style="" if trial["state"] == "complete" else "yellow")
    out.print(table)
    best = result["best"]
    if best is None:
        out.print("[yellow]no complete trial yet[/]: no best recipe")
    else:
        out.print(f"best: trial {best['number']}, {_esc(result['monitor'])} {best['value']:.4f} (run {_esc(best['run'])})")
        out.print(Text(f"best recipe: {best['recipe']}  (train it: dlrecipes train {best['recipe']})"),
                  highlight=False, soft_wrap=True)
    for path in result["plots"]:
        out.print(f"plot: {_esc(path)}")
    for note in result["notes"]:
        out.print(f"[yellow]note:[/] {_esc(note)}")


@app.command()
@handles_errors
def evaluate(
    run: RunArg,
    split: Annotated[str, typer.Option(help="The split to evaluate: test, validation or train.")] = "test",
    tta: TtaOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Evaluate a run's model on a split; write its report and pictures to RUN/reports/<split>/."""
    from dlrecipes.runs import find_run

    path = find_run(run, _runs_dir(runs_dir))
    from dlrecipes.evaluation import evaluate as evaluate_run

    results = evaluate_run(path, split, tta)
    if as_json:  # report.json without its long arrays
        return _print_json({key: value for key, value in results.items() if key != "curves"})
    table = Table(title=f"{_esc(path.name)}: {split} split")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results[split].items():
        table.add_row(_esc(key), f"{value:.4f}")
    out.print(table)
    if "report" not in results:
        out.print("[yellow]note:[/] a GAN has no evaluation report: `dlrecipes sample RUN` draws its images, "
                  "bench/gan.py judges them")
        return
    _show_report(results["report"])
    if "tta" in results:
        _show_tta(results["tta"])
    out.print(f"\nreport: {_esc(path / 'reports' / split)}/ ({_esc(', '.join(Path(f).name for f in results['files']))})")


def _print_scores(title: str, first: str, rows: list[dict], keys: tuple[str, ...]) -> None:
    """A heading, then a table of rows of scores: the first column `first`, then `keys`
    (counts such as support as integers)."""
    out.print(f"\n[bold]{_esc(title)}[/]")
    table = _plain_table()
    table.add_column(first)
    for key in keys:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(_esc(row[first]), *(f"{row[k]:,}" if isinstance(row[k], int) else f"{row[k]:.4f}" for k in keys))
    out.print(table)


def _show_report(report: dict) -> None:
    """The report's tables: whichever parts its kind has (dlrecipes.reports)."""
    scores = ("precision", "recall", "f1", "support")
    if "per_class" in report:
        rows = report["per_class"] + [
            {"class": f"{kind} average", **values, "support": report["examples"]} for kind, values in report["average"].items()]
        _print_scores(f"per class (accuracy {report['accuracy']:.4f}, {report['examples']:,} examples)",
                      "class", rows, scores)
    if report.get("confused_pairs"):
        out.print("\n[bold]most confused (true -> predicted)[/]")
        table = _plain_table()
        for column in ("true", "predicted", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for pair in report["confused_pairs"]:
            table.add_row(_esc(pair["true"]), _esc(pair["predicted"]), f"{pair['count']:,}")
        out.print(table)
    if "thresholds" in report:
        out.print(f"\nROC AUC {report['roc_auc']:.4f}  average precision {report['average_precision']:.4f}  "
                  f"(positive class: {_esc(report['positive_class'])})")
        _print_scores("at thresholds (p > t is positive)", "threshold", report["thresholds"],
                      ("accuracy", "precision", "recall", "f1"))
    if "per_label" in report:
        _print_scores(f"per label (accuracy {report['accuracy']:.4f}, exact match {report['exact_match']:.4f}, "
                      f"{report['examples']:,} examples)", "label", report["per_label"], scores)
    if "r2" in report:
        out.print(f"\nMAE {report['mae']:.4g}  RMSE {report['rmse']:.4g}  R^2 {report['r2']:.4f}  "
                  f"({report['examples']:,} examples; residuals mean {report['residuals']['mean']:.4g}, "
                  f"std {report['residuals']['std']:.4g})")
        if "per_output" in report:
            _print_scores("per output", "output", report["per_output"], ("mae", "rmse", "r2"))


def _show_tta(tta: dict) -> None:
    modes = {mode: metrics for mode, metrics in tta.items() if isinstance(metrics, dict)}
    keys = list(modes["plain"])
    pixels = f"{tta['shift_pixels']} pixel" + ("s" if tta["shift_pixels"] != 1 else "")
    out.print(f"\n[bold]test-time augmentation[/] (crops shifted by {pixels}; loss: the task loss of the predictions alone, "
              "without label smoothing or weight decay)")
    table = _plain_table()
    table.add_column("predictions")
    for key in keys:
        table.add_column(_esc(key), justify="right")
    for mode, metrics in modes.items():
        table.add_row(_esc(mode), *(f"{metrics[k]:.4f}" for k in keys))
    out.print(table)


@app.command()
@handles_errors
def export(
    run: RunArg,
    formats: Annotated[Optional[list[str]], typer.Option(
        "--format", "-f", help="savedmodel (default), onnx, litert, keras, or all (every format this model "
                               "goes to); repeatable, or several at once: litert,onnx.")] = None,
    quantize: Annotated[Optional[str], typer.Option(
        help="LiteRT only: float16 (weights in float16) or int8 (weights and activations, calibrated on "
             "training examples).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Model base path (TF Serving's --model_base_path parent).")] = Path("exports"),
    version: Annotated[Optional[int], typer.Option(help="SavedModel version folder; the next free one by default.", min=1)] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Model name: the folder made under --out (one name, no path); the recipe's name by default.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(
        help="Where the training data is, for --quantize int8's calibration, if not where the run read it: "
             "prepared tfds data (else TFDS_DATA_DIR), or the folder of the recipe's data files (else DLRECIPES_DATA_DIR).")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Export a run: a SavedModel for TensorFlow Serving (<out>/<name>/<version>/), ONNX, LiteRT, Keras."""
    from dlrecipes.runs import find_run

    path = find_run(run, _runs_dir(runs_dir))
    from dlrecipes.export import export_run

    notes: list[str] = []
    written = export_run(path, out_dir, formats, quantization=quantize, version=version, name=name, notes=notes,
                         data_dir=data_dir)
    if as_json:
        return _print_json({"exports": [{"format": w.format, "quantization": w.quantization, "path": str(w.path),
                                         "replaced": w.replaced} for w in written], "notes": notes})
    for w in written:
        kind = w.format + (f" ({w.quantization})" if w.quantization else "")
        out.print(f"[green]{'replaced' if w.replaced else 'exported'}[/] {_esc(kind)}: {_esc(w.path)}")
    for note in notes:
        out.print(f"[yellow]note:[/] {_esc(note)}")


@app.command()
@handles_errors
def predict(
    path: Annotated[str, typer.Argument(
        help="A run (folder, name, or recipe name: its latest complete run), a SavedModel version folder, "
             "an .onnx, .tflite or .keras file, or an export's folder.", metavar="PATH")],
    files: Annotated[Optional[list[Path]], typer.Argument(
        help="Inputs, as the model reads them: image files (PNG, JPEG, GIF, BMP); text files, one text per line "
             "('-': stdin); CSV files with the training columns (the target column too: its metric is printed); "
             "a CSV of a series' consecutive values (one prediction per window); .npy arrays.",
        metavar="INPUT", show_default=False)] = None,
    text: Annotated[Optional[list[str]], typer.Option("--text", help="A text to classify (text models; repeatable).")] = None,
    top: Annotated[Optional[int], typer.Option(
        help="Classes shown per input (classifiers; default 3). A regression model shows every value.",
        min=1, show_default=False)] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Predict with a run or any export of it: the inputs read and preprocessed as in training."""
    from dlrecipes.predict import open_model, predict as predict_with
    from dlrecipes.predict_inputs import check_given

    check_given(files or [], text or [])  # a mistyped path is told at once, not after the model loads
    result = predict_with(open_model(path, _runs_dir(runs_dir)), files or [], texts=text, top=top)
    if as_json:
        # predict refuses non-finite outputs; allow_nan=False keeps a NaN that slipped through from being invalid JSON.
        return out.print_json(json.dumps(result, allow_nan=False))
    rows = result["predictions"]
    table = _plain_table()
    table.add_column("input", no_wrap=True)
    table.add_column("prediction")
    answers = any("target" in row for row in rows)
    if answers:
        table.add_column("target")
    for row in rows:
        if "top" in row:
            shown = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in row["top"])
            if "labels" in row:  # multi-label: each label at p >= 0.5 applies
                shown += f"  (labels: {', '.join(row['labels']) or 'none'})"
        else:
            shown = ", ".join(f"{v:.4g}" for v in row["predictions"])
        target = row.get("target", "")
        cells = [_esc(_shorten(row["text"], 60) if "text" in row else row["input"]), _esc(shown)]
        table.add_row(*cells, *([_esc(target if isinstance(target, str) else f"{target:.4g}")] if answers else []))
    out.print(table)
    for name, value in result.get("metrics", {}).items():
        if name != "examples":
            out.print(f"[bold]{_esc(name)}[/] {value:.4f} over the {result['metrics']['examples']:,} inputs with a target")
    for note in result["notes"]:
        err.print(f"[yellow]note:[/] {_esc(note)}")


@app.command()
@handles_errors
def sample(
    run: RunArg,
    n: Annotated[int, typer.Option("-n", "--n", help="Images in the grid.", min=1, max=1024)] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the latent vectors: the same seed, the same grid.")] = 0,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="PNG to write (default: RUN/samples-seed<SEED>.png).")] = None,
    runs_dir: RunsDirOpt = None,
):
    """Write a grid of images generated by a GAN run as a PNG."""
    from dlrecipes.runs import find_run

    path = find_run(run, _runs_dir(runs_dir))
    from dlrecipes.sample import sample_run

    written = sample_run(path, out_file, n, seed)
    out.print(f"[green]wrote[/] {_esc(written)}")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


runs_app = typer.Typer()  # its help is the callback's: what the bare `runs` does
app.add_typer(runs_app, name="runs")
CompareRunsArg = Annotated[Optional[list[str]], typer.Argument(
    help="Two or more runs: run folders, run names, or recipe names (their latest complete run).",
    metavar="RUN", show_default=False)]


@runs_app.callback(invoke_without_command=True)
@handles_errors
def runs_(ctx: typer.Context, runs_dir: RunsDirOpt = None, as_json: JsonOpt = False):
    """List runs with their status, epochs, time, validation and test metrics; `show` one, `compare` several.

    The validation column is the metric each run is judged by (what early stopping or a
    plateau schedule watches, else the task's main metric); a `stopped` column says where
    early stopping ended a run. Below the table: the command that continues each stopped, interrupted or failed run.
    A run whose run.json cannot be read, or a complete run whose metrics.json or history.csv
    is missing or damaged, is listed as unreadable, why is printed below the table, and the
    exit code is 2; the other runs are listed.
    `runs show RUN` shows one run whole; `runs compare RUN RUN...` sets runs side by side.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dlrecipes import runs

    rows = [runs.summary(path) for path in runs.all_runs(_runs_dir(runs_dir))]
    if as_json:
        _print_json(rows)
    else:
        out.print(_runs_table(rows, _runs_dir(runs_dir)))
        for row in rows:
            if row.get("next"):
                out.print(Text(_clean(f"{row['run']} is {row['status']}: continue with {row['next']}")),
                          highlight=False, soft_wrap=True)
    unreadable = [row for row in rows if "error" in row]
    for row in unreadable:
        print_problem("error:", f"run '{row['run']}' is unreadable: {row['error']}.")
    if unreadable:
        err.print("  fix:   repair or remove those runs' files (train again to replace them)", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT)


def _runs_table(rows: list[dict], runs_dir: Path) -> Table:
    """The runs, narrow enough for 100 columns: the run's name holds its recipe and start
    time (both are in --json); the metric every run is judged by heads its column, and the
    early-stopping column is there only when early stopping stopped a run."""
    from dlrecipes.runs import RunStatus

    table = _plain_table()
    table.title = f"runs in {_esc(runs_dir)}"
    monitors = {row["monitor"] for row in rows if row.get("monitor")}
    shared = monitors.pop() if len(monitors) == 1 else None
    stops = any(_stopped_at(row.get("early_stopping")) for row in rows)
    columns = ["run", "status", "epochs", *(["stopped"] if stops else []), "time", shared or "validation", "test metrics"]
    for column in columns:
        # Only the test metrics wrap, between metrics: every other cell is short.
        table.add_column(_esc(column), justify="left" if column in ("run", "status", "test metrics") else "right",
                         no_wrap=column != "test metrics")
    for row in rows:
        style = "" if row["status"] == RunStatus.COMPLETE else "yellow"
        epochs = "" if row["epochs"] is None else row["epochs"]
        cells = [row["run"], row["status"], epochs]
        if stops:
            cells.append(_stopped_at(row.get("early_stopping")) or "")
        cells += [_duration(row.get("train_seconds")), _monitored_text(row, shared)]
        table.add_row(*(_esc(cell) for cell in cells), _metrics_lines(row["test"]), style=style)
    return table


def _metrics_lines(metrics: dict) -> "_Wrapped":
    return _Wrapped([_clean(_metrics_text({key: value})) for key, value in metrics.items()])


class _Wrapped:
    """A table cell of items joined by two spaces ('accuracy 0.9812  loss 0.0612'), wrapped
    between items, never inside one, when its column is narrow."""

    def __init__(self, items: list[str]):
        self.items = items

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement(max(map(len, self.items), default=0), len("  ".join(self.items)))

    def __rich_console__(self, console, options):
        lines = [""]
        for item in self.items:
            joined = f"{lines[-1]}  {item}" if lines[-1] else item
            if lines[-1] and len(joined) > options.max_width:
                lines.append(item)
            else:
                lines[-1] = joined
        yield Text("\n".join(lines))


def _stopped_at(stop) -> str | None:
    """'7 (best 4)' when early stopping stopped the run (its run.json record), else None."""
    if not isinstance(stop, dict) or stop.get("stopped_epoch") is None:
        return None
    return f"{stop['stopped_epoch']} (best {stop.get('best_epoch')})"


def _monitored_text(row: dict, shared: str | None) -> str:
    """The validation value of the metric a run is judged by: the number alone when the
    column is headed by that metric, else 'accuracy 0.9790' (a training quantity: 'loss
    (train)', since its validation value is not the one watched)."""
    from dlrecipes.runs import is_number

    monitor = row.get("monitor")
    if not monitor:
        return ""
    value = row["validation"].get(monitor.removeprefix("val_")) if monitor.startswith("val_") else None
    shown = f"{value:.4f}" if is_number(value) else "-"
    if monitor == shared:
        return shown
    return f"{monitor.removeprefix('val_')} {shown}" if monitor.startswith("val_") else f"{monitor} (train)"


def _duration(seconds) -> str:
    """'41 s', '6m 13s', '2h 03m'; '' when not known."""
    from dlrecipes.runs import is_number

    if not is_number(seconds) or seconds < 0:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _group_runs_dir(ctx: typer.Context, runs_dir: Path | None) -> Path:
    """A sub-command's --runs-dir, else the one given to `runs` itself, else the default."""
    return _runs_dir(runs_dir or (ctx.parent.params.get("runs_dir") if ctx.parent else None))


@runs_app.command("compare")
@handles_errors
def runs_compare(
    ctx: typer.Context,
    refs: CompareRunsArg = None,
    out_file: Annotated[Path, typer.Option("--out", help="The curves of all runs overlaid (PNG).")] = Path("compare.png"),
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Set runs side by side: differing recipe keys, metrics, epochs, size, time; curves in one PNG.

    RUN is what `evaluate` takes: a run folder, a run name, or a recipe name (its latest
    complete run). The table has a column per run; --out is where the curves go (default
    ./compare.png). Runs whose tasks log different quantities cannot be overlaid.
    """
    from dlrecipes.runs import find_run
    from dlrecipes.writable import require_writable_file

    folder = _group_runs_dir(ctx, runs_dir)
    paths = [find_run(ref, folder) for ref in refs or []]
    require_writable_file(out_file, option="--out", suffix=".png")
    from dlrecipes.compare import compare_runs, plot_runs
    from dlrecipes.errors import is_disk_full
    from dlrecipes.writable import disk_full

    # The table first: a disk that fills at --out then costs the picture, not the comparison.
    result = {**compare_runs(paths, None), "plot": str(out_file)}
    if as_json:
        _print_json(result)
    else:
        out.print(_compare_table(result))
    try:
        plot_runs(paths, out_file)
    except Exception as error:
        if not is_disk_full(error):
            raise
        raise disk_full(f"the curves ({out_file.name})", out_file,
                        fix="free some space on that disk (df -h shows it), or name a file on another with --out") from None
    if not as_json:
        out.print(f"curves: {_esc(out_file)}")


def _compare_table(result: dict) -> Table:
    """A column per run; rows: the recipe keys that differ, the metrics (each row's best in
    bold), then epochs, early stopping, parameters and training time."""
    from dlrecipes.compare import value_text

    entries = result["runs"]
    table = _plain_table()
    table.add_column("", no_wrap=True)
    for entry in entries:
        table.add_column(_run_header(entry["run"], entry["recipe"]), justify="right", overflow="fold", max_width=36)

    def section(title: str) -> None:
        table.add_row(f"[bold]{_esc(title)}[/]", *([""] * len(entries)))

    table.add_row("recipe", *(_esc(entry["recipe"]) for entry in entries))
    section("recipe keys that differ")
    if not result["differing_keys"]:
        table.add_row("  [dim](none)[/]", *([""] * len(entries)))
    for key in result["differing_keys"]:
        table.add_row(f"  {_esc(key)}", *(_esc(value_text(entry["differs"][key])) for entry in entries))
    for split in ("validation", "test"):
        keys = list(dict.fromkeys(key for entry in entries for key in entry[split]))
        if keys:
            section(split)
        for key in keys:
            table.add_row(f"  {_esc(key)}", *_metric_cells(key, [entry[split].get(key) for entry in entries]))
    section("training")
    table.add_row("  epochs", *(_esc(entry["epochs"] if entry["epochs"] is not None else "-") for entry in entries))
    table.add_row("  early stopping", *(_esc(_stop_text(entry["early_stopping"])) for entry in entries))
    table.add_row("  weights of epoch", *(_esc(entry["weights_epoch"] or "-") for entry in entries))
    table.add_row("  parameters", *(_esc(f"{entry['params']:,}" if isinstance(entry["params"], int) else "-")
                                    for entry in entries))
    table.add_row("  train time", *(_esc(_duration(entry["train_seconds"]) or "-") for entry in entries))
    return table


def _metric_cells(key: str, values: list) -> list[str]:
    """Numbers to 4 decimals, the best of the row in bold (lower for losses and errors)."""
    from dlrecipes.runs import is_number
    from dlrecipes.tasks import lower_is_better

    numbers = [value for value in values if is_number(value)]
    best = (min if lower_is_better(key) else max)(numbers) if len(numbers) > 1 else None
    cells = []
    for value in values:
        text = _metric_number(value) if is_number(value) else _esc(value if value is not None else "-")
        cells.append(f"[bold]{text}[/]" if best is not None and value == best else text)
    return cells


def _run_header(run: str, recipe) -> str:
    """A run's column header: 'mnist-dnn-' over '20261201T152825Z', so that three runs fit
    in 100 columns."""
    prefix = f"{recipe}-"
    if isinstance(recipe, str) and run.startswith(prefix) and len(run) > len(prefix):
        return f"{_esc(prefix)}\n{_esc(run[len(prefix):])}"
    return _esc(run)


def _stop_text(stop) -> str:
    """What early stopping did, in a table cell: 'at 4 (best 2)', 'no (best 12)'; '-'
    without its record (no early stopping, or a run from before it was recorded)."""
    if not isinstance(stop, dict):
        return "-"
    if stop.get("stopped_epoch") is None:
        return f"no (best {stop.get('best_epoch')})"
    return f"at {stop['stopped_epoch']} (best {stop.get('best_epoch')})"


@runs_app.command("show")
@handles_errors
def runs_show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run folder, run name, or recipe name (its latest run, complete or not).")],
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
):
    """Everything about one run: status, timings, metrics, runtime, environment, files, recipe.

    Each file that cannot be used (unreadable, missing, or changed since it was written:
    its sha256 differs) is named below, the rest is shown, and the exit code is 2.
    """
    from dlrecipes.runs import details, find_run

    shown = details(find_run(run, _group_runs_dir(ctx, runs_dir), complete=False, readable=False))
    if as_json:
        _print_json(shown)
    else:
        _print_details(shown)
    for problem in shown["problems"]:
        print_problem("error:", f"run '{shown['run']}': {problem.rstrip('.')}.")
    if shown["problems"]:
        raise typer.Exit(EXIT_BAD_INPUT)


def _print_details(shown: dict) -> None:
    from rich.syntax import Syntax

    from dlrecipes.train.early_stopping import describe
    from dlrecipes.yamlio import dump_yaml

    out.print(Text.assemble((_clean(shown["run"]), "bold"), f" ({_clean(shown['path'])})"), highlight=False)
    timings = shown["timings"]
    facts = {"recipe": shown["recipe_name"], "status": shown["status"], "error": shown["error"],
             "next": shown["next"], "started": timings["started"],
             "first step": timings["first_step"], "resumed": timings["resumed_at"], "finished": timings["finished"],
             "train time": _duration(timings["train_seconds"]) or None,
             "epochs": _epochs_text(shown["epochs"]),
             "parameters": f"{shown['params']:,}" if isinstance(shown["params"], int) else None,
             "trainable": f"{shown['trainable_params']:,}" if isinstance(shown["trainable_params"], int) else None}
    stop = shown["early_stopping"]
    if isinstance(stop, dict):
        facts["early stopping"] = (describe(stop) or _stop_text(stop)).removeprefix("early stopping: ")
    _print_facts(facts)
    metrics = shown["metrics"] or {}
    splits = [split for split in ("train", "validation", "test") if isinstance(metrics.get(split), dict)]
    if splits:
        table = _plain_table()
        table.title = "metrics"
        table.add_column("metric")
        for split in splits:
            table.add_column(split, justify="right")
        for key in dict.fromkeys(key for split in splits for key in metrics[split]):
            table.add_row(_esc(key), *_metric_cells_plain([metrics[split].get(key) for split in splits]))
        out.print(table)
    for title, section in (("runtime", shown["runtime"]), ("environment", shown["environment"]),
                           ("also in run.json", shown["record"])):
        if section:
            out.print(f"[bold]{title}[/]")
            _print_facts(section, indent="  ")
    files = _plain_table()
    files.title = "files"
    for column, justify in (("file", "left"), ("bytes", "right"), ("sha256", "left")):
        files.add_column(column, justify=justify)
    for entry in shown["files"]:
        size = f"{entry['bytes']:,}" if entry["bytes"] is not None else "?"
        files.add_row(_esc(entry["name"]), size, _esc(entry["sha256"] or ""))
    out.print(files)
    if shown["recipe"] is not None:
        out.print("[bold]recipe[/] (recipe.yaml, resolved)")
        out.print(Syntax(dump_yaml(shown["recipe"]), "yaml", background_color="default"))


def _epochs_text(epochs: dict) -> str | None:
    done, planned = epochs.get("done"), epochs.get("planned")
    if done is None:
        return None
    text = f"{done} of {planned}" if planned is not None else str(done)
    return text + (f" (resumed after {epochs['resumed_from']})" if epochs.get("resumed_from") is not None else "")


def _metric_cells_plain(values: list) -> list[str]:
    from dlrecipes.runs import is_number

    return [_metric_number(value) if is_number(value) else _esc("" if value is None else value) for value in values]


def _metric_number(value: float) -> str:
    """4 decimals, or 4 significant digits for what 4 decimals would blur (a learning rate
    of 3e-05, or 0 itself)."""
    return f"{value:.4f}" if abs(value) >= 0.001 else f"{value:.4g}"


def _print_facts(facts: dict, indent: str = "") -> None:
    """'key: value' lines, the values that are not set left out; nested values as JSON."""
    for key, value in facts.items():
        if value is None or value == [] or value == {}:
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        out.print(Text(_bounded(_clean(f"{indent}{key}: {shown}"))), highlight=False, soft_wrap=True)


def _version(value: bool):
    if value:
        print(f"dlrecipes {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show TensorFlow's own start-up notes and log messages, and MLflow's, unfiltered.")
    ] = False,
):
    if verbose:
        tf_quiet.uninstall()


def main() -> None:
    # TensorFlow's C++ start-up notes (oneDNN, no CUDA driver, CPU features) are noise for a
    # CLI user: kept off the screen (tf_quiet), errors still shown; --verbose shows them.
    tf_quiet.install()
    try:
        app()
    except SystemExit:
        if interrupts.received() is not None:
            # The signal's own code: typer turns a KeyboardInterrupt it catches into 130.
            interrupts.leave(interrupts.exit_code())
        raise


if __name__ == "__main__":
    sys.exit(main())
