"""`dlrecipes tune`: a hyperparameter search over a recipe's `search:` space, on Optuna.

Optuna does the searching: its samplers (TPE, random, grid, CMA-ES) choose each trial's
values, its pruners (median, asynchronous successive halving, Hyperband) stop trials whose
validation curve falls behind, and its storages keep the study - a journal file, which
several processes on one machine share, or a database for several machines. This module
turns a trial into a recipe and the recipe into a normal training:

- a trial's recipe is the recipe with each searched key set, as `--set` sets it, named
  `<study>-trial-<N>`, and validated and checked as any recipe is before it trains;
- it trains through `dlrecipes.train.fit.train`, so every trial is a run directory
  (tagged in run.json with its study and trial) that `runs`, `evaluate` and `export` read;
- each epoch reports the monitored validation quantity to Optuna; a pruned trial ends as
  early stopping ends a training: its run is complete, with fewer epochs, and says
  `pruned_at_epoch`;
- its value is the monitored quantity at the epoch whose weights the run keeps.

`objective_value` is the one place a trial is trained and scored, so a cross-validated
objective (the mean over folds) can take its place.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import math
import re
import shlex
import warnings
from pathlib import Path

from rich.console import Console

from dlrecipes import checks, consoles, runs, search
from dlrecipes.errors import EXIT_BAD_INPUT, RecipeError, did_you_mean
from dlrecipes.tf_quiet import quiet_retracing

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "asha", "hyperband", "none")
STUDY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
JOURNAL = "study.journal"
PLOTS = {"history.png": "optimization history", "importances.png": "parameter importances",
         "parallel.png": "parallel coordinates"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What `dlrecipes tune` was asked: the search's budget, algorithms and storage."""

    trials: int | None = None  # more trials this command runs (None: until --timeout or the grid ends)
    timeout: float | None = None  # seconds after which no new trial starts
    sampler: str = "tpe"
    pruner: str = "median"
    study: str | None = None  # the recipe's name by default
    storage: str | None = None  # a database URL or a journal file; RUNS/tune-<study>/study.journal by default
    seed: int | None = None  # the sampler's
    command: str = ""  # how this command was given, to say how to continue it
    folds: int | None = None  # judge each trial by the mean of a K-fold cross-validation


class TrialFailed(Exception):
    """A trial that ended without a value, for a reason of its own (its values make a
    recipe that is refused, its training diverged): recorded as failed, the search goes on."""


def study_name(recipe, settings: Settings) -> str:
    name = settings.study or recipe.name
    if not STUDY_NAME.fullmatch(name):
        raise RecipeError(f"study name '{name[:80]}' cannot name the study's folder and its trials' runs.",
                          where="--study", fix="use lower-case letters, digits, '.', '_' and '-' (at most 100)")
    return name


def folder_of(runs_dir: Path, study: str) -> Path:
    """Where a study's best.yaml, plots and (by default) journal file live."""
    return runs_dir / f"tune-{study}"


# --- the study: storage, sampler, pruner --------------------------------------------------

def open_storage(settings: Settings, folder: Path):
    """(Optuna storage, how to show it): a journal file (the default, or a path), or a
    database URL (postgresql://, mysql://, sqlite:///) through SQLAlchemy."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from dlrecipes.writable import require_writable_dir

    given = settings.storage
    if given and "://" in given:
        shown = _hide_password(given)
        try:
            return optuna.storages.RDBStorage(given), shown
        except Exception as error:  # noqa: BLE001 - a driver missing, a server away, a bad URL
            raise RecipeError(f"cannot open the study database: {type(error).__name__}: {str(error)[:300]}",
                              where=f"--storage {shown}",
                              fix="check the URL and that its server is up; postgresql:// needs "
                                  "`pip install psycopg2-binary`, mysql:// `pip install PyMySQL`") from None
    path = Path(given) if given else folder / JOURNAL
    require_writable_dir(path.parent, option="--storage" if given else "--runs-dir", what="study folder")
    return optuna.storages.JournalStorage(JournalFileBackend(str(path))), str(path)


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unreadable URL is shown as given, cut
        return url[:200]


def open_study(recipe, settings: Settings, storage, name: str, monitor: str, direction: str):
    """The study `name`, created or continued; refused when it judges trials otherwise."""
    import optuna

    study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                pruner=make_pruner(settings.pruner))
    watched = study.user_attrs.get("monitor")
    if watched is None:
        study.set_user_attr("monitor", monitor)
        study.set_user_attr("recipe", recipe.name)
    elif watched != monitor or study.direction.name.lower() != direction:
        raise RecipeError(
            f"study '{name}' judges its trials by {watched} ({study.direction.name.lower()}); this recipe's "
            f"trials are judged by {monitor} ({direction}), so their values would not compare.",
            fix="give this search its own study: --study NEW-NAME")
    # Seeded from the trials it already has: a continued or second process does not
    # repeat the first one's values (a random sampler would, from the same seed).
    seed = None if settings.seed is None else settings.seed + len(study.trials)
    study.sampler = make_sampler(settings.sampler, recipe.search, seed)
    return study


def make_sampler(name: str, space: dict, seed: int | None):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        # CMA-ES searches numbers; a choice is drawn at random beside it (Optuna's rule).
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    grid = {key: dimension.grid() for key, dimension in space.items()}
    continuous = [key for key, values in grid.items() if values is None]
    if continuous:
        raise RecipeError(
            f"--sampler grid tries every value of each key; {', '.join(continuous)} "
            f"{'is a continuous range' if len(continuous) == 1 else 'are continuous ranges'}.",
            where="search", fix="give each range a step ({uniform: [0.0, 0.5], step: 0.1}) or list its values "
                                "({choice: [...]}), or use another sampler")
    return optuna.samplers.GridSampler(grid, seed=seed)


def make_pruner(name: str):
    """Optuna's pruners with their own defaults: median waits for 5 trials; asha and
    hyperband size their rungs from the epochs (min_resource='auto')."""
    import optuna

    return {"median": optuna.pruners.MedianPruner, "asha": optuna.pruners.SuccessiveHalvingPruner,
            "hyperband": optuna.pruners.HyperbandPruner, "none": optuna.pruners.NopPruner}[name]()


# --- one trial -------------------------------------------------------------------------------

def sample(trial, space: dict) -> dict:
    """The trial's value of each searched key, drawn by the study's sampler."""
    values = {}
    for key, dimension in space.items():
        if dimension.kind == "choice":
            values[key] = dimension.value_of(trial.suggest_categorical(key, dimension.labels))
            continue
        low, high = dimension.low_high
        if dimension.kind == "int":
            values[key] = trial.suggest_int(key, low, high, step=int(dimension.step or 1), log=dimension.log)
        else:
            values[key] = trial.suggest_float(key, low, high, step=dimension.step, log=dimension.kind == "log_uniform")
    return values


def trial_recipe(recipe, values: dict, name: str):
    """The recipe with `values` set, named `name`, validated and checked as any recipe is:
    TrialFailed with the reason when it is refused (the ends and choices of each range were
    checked one at a time; their combination may still be refused)."""
    from dlrecipes.loader import validate

    try:
        raw = search.with_values(search.base_of(recipe), values)
        raw["name"] = name
        candidate = validate(raw, source=f"recipe of {name}")
        checks.check(candidate)
    except RecipeError as error:  # its first problem: the line says which trial
        raise TrialFailed(error.details[0].strip() if error.details else error.what) from None
    except ValueError as error:
        raise TrialFailed(str(error)) from None
    return candidate


def pruning_callback(trial, monitor: str):
    """Optuna's Keras pruning callback, made to end a pruned training as early stopping does
    (raised inside `fit`, its TrialPruned would fail the run).

    Keras logs a model with auxiliary classifiers' main metric as `val_head_accuracy`; the
    callback reads the names the run's history uses (`val_accuracy`). Every epoch's value is
    kept (`values`) to score the trial; `pruned_at` is the epoch it was pruned after.
    """
    from optuna import TrialPruned
    from optuna_integration import KerasPruningCallback

    from dlrecipes.train.callbacks import main_output_names

    class Pruning(KerasPruningCallback):
        def __init__(self):
            super().__init__(trial, monitor)
            self.values, self.pruned_at = [], None

        def on_epoch_end(self, epoch, logs=None):
            logs = main_output_names(logs or {})
            if monitor in logs:
                self.values.append(float(logs[monitor]))
            try:
                super().on_epoch_end(epoch, logs)
            except TrialPruned:
                # The epoch is recorded and checkpointed, then the run completes.
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return Pruning()


def kept_value(recipe, values: list[float], direction: str) -> float:
    """The monitored quantity at the epoch whose weights the run keeps: the best epoch when
    early stopping restores its best weights (it watches this quantity then), else the last."""
    stopping = recipe.train.early_stopping
    if stopping and stopping.restore_best_weights and stopping.monitor == search.objective(recipe)[0]:
        return min(values) if direction == "minimize" else max(values)
    return values[-1]


def objective_value(recipe, trial, *, runs_dir: Path, monitor: str, direction: str, study: str,
                    progress=None) -> float:
    """Train one trial's recipe as a normal run and return its monitored validation value.

    Raises optuna.TrialPruned when the pruner stopped it (after its run completed, shorter).
    """
    import optuna

    from dlrecipes.train.fit import train

    pruning = pruning_callback(trial, monitor)
    callbacks = [pruning] + ([progress] if progress is not None else [])
    run = train(recipe, runs_dir=runs_dir, console=Console(quiet=True), callbacks=callbacks,
                record={"tune": {"study": study, "trial": trial.number}})
    trial.set_user_attr("run", str(run))
    trial.set_user_attr("epochs", len(pruning.values))
    if not pruning.values or not all(math.isfinite(v) for v in pruning.values):
        raise TrialFailed(f"the training logged no finite {monitor}")
    if pruning.pruned_at is not None:
        runs.update(run, tune={"study": study, "trial": trial.number, "pruned_at_epoch": pruning.pruned_at})
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
    return kept_value(recipe, pruning.values, direction)


def folds_value(recipe, trial, *, runs_dir: Path, monitor: str, study: str, folds: int, progress=None) -> float:
    """Cross-validate one trial's recipe (`--folds K`): K runs, and the mean over the folds
    of the monitored validation value at the epoch each run keeps (its metrics.json).
    Not pruned: the folds would report the same epochs K times over."""
    from dlrecipes.train.folds import cross_validate

    cv = cross_validate(recipe, folds, runs_dir, console=Console(quiet=True),
                        extra_callbacks=[progress] if progress is not None else None,
                        record={"tune": {"study": study, "trial": trial.number}})
    summary = cv.as_dict()
    trial.set_user_attr("run", summary["group"])
    trial.set_user_attr("epochs", sum(fold["epochs"] for fold in summary["folds"]))
    value = summary["validation"].get(monitor.removeprefix("val_"), {}).get("mean")
    if value is None or not math.isfinite(value):
        raise TrialFailed(f"the folds logged no finite {monitor}")
    return value


@dataclasses.dataclass
class Objective:
    """What Optuna calls for each trial: values -> recipe -> `objective_value`."""

    recipe: object
    study: str
    runs_dir: Path
    monitor: str
    direction: str
    console: Console
    folds: int | None = None
    numbers: list = dataclasses.field(default_factory=list)  # the trials this process ran

    def __call__(self, trial) -> float:
        from dlrecipes.train.callbacks import TrainingDiverged

        self.numbers.append(trial.number)
        values = sample(trial, self.recipe.search)
        trial.set_user_attr("values", values)
        progress = trial_progress(trial.number, self.console)
        try:
            candidate = trial_recipe(self.recipe, values, f"{self.study}-trial-{trial.number}")
            trial.set_user_attr("recipe", candidate.model_dump(mode="json"))
            if self.folds:
                return folds_value(candidate, trial, runs_dir=self.runs_dir, monitor=self.monitor, study=self.study,
                                   folds=self.folds, progress=progress)
            return objective_value(candidate, trial, runs_dir=self.runs_dir, monitor=self.monitor,
                                   direction=self.direction, study=self.study, progress=progress)
        except TrialFailed as failed:
            trial.set_user_attr("error", str(failed))
            raise
        except TrainingDiverged as diverged:
            trial.set_user_attr("error", diverged.what)
            raise TrialFailed(diverged.what) from None
        finally:
            progress.stop()
            _free_memory()


def _free_memory() -> None:
    """Drop the trial's model and graphs: Keras keeps every model built in one session,
    so a search's memory would otherwise grow with its trials."""
    import keras

    keras.backend.clear_session()
    gc.collect()


def trial_progress(number: int, console: Console):
    """A Keras callback showing the running trial's epoch and monitored values on one line
    that redraws (a terminal), and nothing per epoch in a log (one line per trial there)."""
    import keras
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dlrecipes.train.callbacks import main_output_names

    class TrialProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = self.task = None
            if consoles.is_live(console):
                self.bar = Progress(TextColumn(f"trial {number}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TextColumn("{task.fields[logs]}"), console=console,
                                    transient=True)

        def on_train_begin(self, logs=None):
            if self.bar is not None and self.task is None:  # fine-tuning is a second fit
                self.bar.start()
                self.task = self.bar.add_task("", total=self.params.get("epochs"), logs="")

        def on_epoch_end(self, epoch, logs=None):
            if self.bar is not None:
                shown = "  ".join(f"{k} {v:.4g}" for k, v in main_output_names(logs or {}).items()
                                  if k.startswith("val_") and isinstance(v, (int, float)))
                self.bar.update(self.task, completed=epoch + 1, logs=shown)

        def stop(self):
            if self.bar is not None:
                self.bar.stop()

    return TrialProgress()


# --- the search -----------------------------------------------------------------------------

def tune(recipe, settings: Settings, *, runs_dir: Path, console: Console | None = None) -> dict:
    """Run the search; returns what `--json` prints (the study's trials, the best one, the
    files written). Ctrl-C ends the running trial as failed and keeps the study."""
    import optuna

    console = console or consoles.make(stderr=True)
    if not recipe.search:
        raise RecipeError(f"recipe '{recipe.name}' has no search space.", where="search",
                          fix="add a search: section (README: Hyperparameter search), or give one with --space FILE")
    monitor, direction = search.objective(recipe)
    if settings.folds:
        from dlrecipes import checks
        from dlrecipes.train.folds import with_folds

        checks.check(with_folds(recipe, settings.folds))  # a source that cannot fold: refused now
        settings = dataclasses.replace(settings, pruner="none")
    name = study_name(recipe, settings)
    if settings.sampler == "grid":
        make_sampler("grid", recipe.search, None)  # a continuous range is refused before anything is written
    folder = folder_of(runs_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    storage, shown = open_storage(settings, folder)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial gets our own line instead
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = open_study(recipe, settings, storage, name, monitor, direction)
    console.print(f"[bold]{recipe.name}[/]: study '{name}' ({shown}), trials so far: {counts(study)}; "
                  f"{_budget(settings)}, judged by {monitor} ({direction}), sampler {settings.sampler}, "
                  f"pruner {settings.pruner}", highlight=False, soft_wrap=True)
    objective = Objective(recipe, name, runs_dir, monitor, direction, console, folds=settings.folds)

    def after_trial(study, trial):
        console.print(_trial_line(trial, monitor), highlight=False, soft_wrap=True)
        write_best(recipe, study, folder)

    try:
        with quiet_retracing():  # each trial builds new models: their tracing is no loop
            study.optimize(objective, n_trials=settings.trials, timeout=settings.timeout, catch=(TrialFailed,),
                           callbacks=[after_trial], gc_after_trial=True)
    except KeyboardInterrupt:
        _interrupted(study, objective.numbers, settings, console)
        raise
    return report(recipe, study, folder, shown, objective.numbers, plots=True)


def _budget(settings: Settings) -> str:
    parts = [f"{settings.trials} more trials" if settings.trials else None,
             f"no new trial after {settings.timeout:g} s" if settings.timeout else None]
    return ", ".join(p for p in parts if p) or "trials until the grid is done"


def _interrupted(study, numbers: list, settings: Settings, console: Console) -> None:
    """Mark this process's unfinished trial failed (Optuna does, unless the signal came
    outside the trial) and say how to go on."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.number in numbers:
            try:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            except (ValueError, RuntimeError):
                pass  # told meanwhile
    finished = [t for t in study.get_trials(deepcopy=False) if t.number in numbers and t.state.is_finished()]
    done = len([t for t in finished if t.state != optuna.trial.TrialState.FAIL])
    rest = f" --trials {settings.trials - done}" if settings.trials and settings.trials > done else ""
    command = re.sub(r"\s--trials[ =]\S+", "", settings.command) + rest
    which = f"trial {numbers[-1]} marked failed" if numbers else "before the first trial"
    console.print(f"interrupted: {which}; study '{study.study_name}' "
                  f"keeps its trials ({counts(study)}). Continue it with: {command}",
                  highlight=False, soft_wrap=True)


def counts(study) -> str:
    """'3 complete, 1 pruned, 1 fail': the study's trials by state."""
    states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
    return ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states)) or "none yet"


def _trial_line(trial, monitor: str) -> str:
    state = trial.state.name.lower()
    value = f"{monitor} {trial.value:.4g}" if trial.value is not None else ""
    epochs = trial.user_attrs.get("epochs")
    seconds = trial.duration.total_seconds() if trial.duration else None
    parts = [f"trial {trial.number}", state, value, f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else "",
             f"{seconds:.1f} s" if seconds is not None else "", _params_text(trial.user_attrs.get("values", {})),
             trial.user_attrs.get("error", "")]
    return "  ".join(p for p in parts if p)


def _params_text(values: dict) -> str:
    return "  ".join(f"{key.split('.')[-1]}={shown_value(value)}" for key, value in values.items())


def shown_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# --- what a search leaves: best.yaml, plots, the report ---------------------------------------

def best_trial(study):
    """The best complete trial, or None (pruned and failed trials have no final value)."""
    try:
        return study.best_trial
    except ValueError:
        return None


def write_best(recipe, study, folder: Path) -> Path | None:
    """best.yaml: the best trial's resolved recipe under the recipe's own name, without a
    search, which `dlrecipes train` takes as it is."""
    from dlrecipes.loader import validate
    from dlrecipes.yamlio import dump_yaml

    best = best_trial(study)
    if best is None or "recipe" not in best.user_attrs:
        return None
    resolved = validate({**best.user_attrs["recipe"], "name": recipe.name}, source=f"trial {best.number}")
    header = (f"# The best trial ({best.number}) of study '{study.study_name}': "
              f"{study.user_attrs.get('monitor')} {best.value:.6g}.\n"
              f"# Searched: {_params_text(best.user_attrs.get('values', {}))}\n"
              f"# Train it: dlrecipes train {folder / 'best.yaml'}\n")
    path = folder / "best.yaml"
    runs.write_atomic(path, header + dump_yaml(resolved.model_dump(mode="json")))
    return path


def write_plots(study, folder: Path) -> tuple[list[str], list[str]]:
    """Optuna's matplotlib plots as PNGs in `folder`: (files written, notes on those skipped)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    written, notes = [], []
    makers = {"history.png": plots.plot_optimization_history, "importances.png": plots.plot_param_importances,
              "parallel.png": plots.plot_parallel_coordinate}
    for name, make in makers.items():
        if not complete or (name == "importances.png" and len(complete) < 2):
            notes.append(f"{PLOTS[name]} skipped: it needs {'2' if name == 'importances.png' else '1'} "
                         f"complete trial{'s' if name == 'importances.png' else ''} (the study has {len(complete)})")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = make(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.set_size_inches(10, 6)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            plt.close(figure)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:  # e.g. importances of one value
            notes.append(f"{PLOTS[name]} skipped: {error}")
            continue
        runs.write_atomic(folder / name, buffer.getvalue())
        written.append(str(folder / name))
    return written, notes


def trial_row(trial) -> dict:
    """A trial as `--json` shows it."""
    seconds = trial.duration.total_seconds() if trial.duration else None
    row = {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
           "params": trial.user_attrs.get("values", trial.params), "epochs": trial.user_attrs.get("epochs"),
           "seconds": None if seconds is None else round(seconds, 2), "run": trial.user_attrs.get("run")}
    if "error" in trial.user_attrs:
        row["error"] = trial.user_attrs["error"]
    return row


def report(recipe, study, folder: Path, storage: str, numbers: list, plots: bool) -> dict:
    best = best_trial(study)
    best_yaml = write_best(recipe, study, folder)
    written, notes = write_plots(study, folder) if plots else ([], [])
    return {
        "study": study.study_name, "storage": storage, "folder": str(folder), "recipe": recipe.name,
        "monitor": study.user_attrs.get("monitor"), "direction": study.direction.name.lower(),
        "trials": [trial_row(t) for t in study.get_trials(deepcopy=False)],
        "this_command": numbers,
        "best": None if best is None else {**trial_row(best), "recipe": str(best_yaml) if best_yaml else None},
        "plots": written, "notes": notes,
    }


def space_from_file(path: Path) -> dict:
    """A `--space FILE`: a mapping of dotted keys to ranges, as a recipe's `search:` section."""
    from pydantic import TypeAdapter, ValidationError

    from dlrecipes.yamlio import read_yaml

    raw, _ = read_yaml(path)
    if not isinstance(raw, dict):
        raise RecipeError("a search space file is a mapping of recipe keys to ranges.", where=str(path),
                          fix="e.g. train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}")
    raw = raw.get("search", raw) if set(raw) == {"search"} else raw  # a file holding a search: section
    try:
        return TypeAdapter(search.SearchSpace).validate_python(raw)
    except ValidationError as error:
        details = [f"{'.'.join(str(p) for p in e['loc'][:1])}: {e.get('ctx', {}).get('error', e['msg'])}"
                   for e in error.errors()[:20]]
        raise RecipeError(f"invalid search space {path} ({error.error_count()} problem"
                          f"{'s' if error.error_count() > 1 else ''}):", details=details,
                          exit_code=EXIT_BAD_INPUT) from None


def command_line(ref: str, space: Path | None, sets: list[str], settings: Settings, runs_dir: Path | None) -> str:
    """The `dlrecipes tune` command that continues this study."""
    words = ["dlrecipes", "tune", ref]
    if space:
        words += ["--space", str(space)]
    for expression in sets:
        words += ["--set", expression]
    words += ["--sampler", settings.sampler, "--pruner", settings.pruner]
    for flag, value in (("--study", settings.study), ("--storage", settings.storage), ("--runs-dir", runs_dir),
                        ("--trials", settings.trials), ("--folds", settings.folds)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def check_choice(value: str, allowed: tuple, option: str) -> str:
    if value not in allowed:
        raise RecipeError(f"{option} '{value[:80]}' is not one of {', '.join(allowed)}.{did_you_mean(value, allowed)}",
                          where=option)
    return value

