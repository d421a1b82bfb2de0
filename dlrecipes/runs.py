"""Run directories: one per training, written so that no file is ever seen half-written.

    runs/<recipe>-<UTC timestamp>/
        run.json        status (running -> complete | failed | interrupted), times, seed
        recipe.yaml     the resolved recipe: every default and --set override filled in
        signature.json  the data's input shape/dtype and classes (exports need no dataset)
        env.json        library versions, platform and devices
        history.csv     per-epoch learning rate, loss and metrics (rewritten each epoch)
        model.keras     the trained model
        metrics.json    final train/validation/test metrics
        curves.png      loss and main metric per epoch, train vs validation

        checkpoint/     what resuming needs, after every epoch (train/checkpoint.py)
        lock            the PID and host of the process training it, while one is (runlock.py)

A run folder appears whole: it is set up in a hidden folder (run.json, recipe.yaml,
signature.json, env.json, its lock) and renamed into place. Every file is written to a
temporary name, flushed to disk and renamed into place, and a failed write leaves no
temporary file. `run.json` says `complete` only after everything else is written; any other
status means incomplete, and only the process holding the run's lock changes it.
"""

from __future__ import annotations

import enum
import hashlib
import errno
import json
import os
import secrets
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from dlrecipes.errors import RecipeError, did_you_mean


class RunStatus(str, enum.Enum):
    """A run's `status` in run.json. A str, so it is written to and compared with JSON as is."""

    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    def __str__(self) -> str:  # "complete" in messages, not "RunStatus.COMPLETE"
        return self.value


COMPLETE = RunStatus.COMPLETE  # the name older code uses
UNREADABLE = "unreadable"  # shown for a run whose run.json cannot be read; never written


def default_runs_dir() -> Path:
    return Path(os.environ.get("DLRECIPES_RUNS_DIR") or "runs")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to `path` through a temporary file in the same folder, flushed to disk, then
    rename; on failure (a full disk) the temporary file is removed and the error raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        data = data.encode("utf-8")  # what every reader here decodes, whatever the locale
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file another library wrote to disk, so a rename cannot outlive its contents."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    """The JSON object in `path`. ValueError when it is not one (invalid, truncated, not
    UTF-8, a list), OSError when it cannot be read: callers that list runs catch both."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds a JSON {type(data).__name__}, not an object")
    return data


def try_read_json(path: Path) -> tuple[dict, str | None]:
    """(the JSON object in `path`, None), or ({}, why it cannot be read, in one short line)."""
    try:
        return read_json(path), None
    except FileNotFoundError:
        return {}, f"{path.name}: it is missing"
    except OSError as error:
        return {}, f"{path.name}: {error.strerror or type(error).__name__}"
    except UnicodeDecodeError:
        return {}, f"{path.name}: not UTF-8 text"
    except json.JSONDecodeError as error:
        return {}, f"{path.name}: not valid JSON ({error.msg}, line {error.lineno})"
    except ValueError as error:
        return {}, str(error)


STAGING = ".staging"  # suffix of a run folder being set up


def create(runs_dir: Path, recipe_name: str, record: dict, files: dict[str, str]):
    """A new run directory marked `running`, holding `files`, owned by this process.

    Returns (path, lock): the caller releases the lock when the training ends. The folder
    is set up under a hidden name and renamed into place, so `runs` never sees a run
    without its recipe.
    """
    from dlrecipes import runlock

    runs_dir.mkdir(parents=True, exist_ok=True)
    remove_abandoned_setups(runs_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    # Not tempfile.mkdtemp: its folders are private (0700); a run folder follows the umask.
    staging = runs_dir / f".{recipe_name}-{stamp}.{os.getpid()}.{secrets.token_hex(4)}{STAGING}"
    staging.mkdir()
    lock = None
    try:
        lock = runlock.acquire(staging)
        for name, text in files.items():
            write_atomic(staging / name, text)
        write_json(staging / "run.json", {
            "recipe": recipe_name, "status": RunStatus.RUNNING, "started": utc_now(),
            "owner": runlock.this_process(), **record,
            # What later commands read back is checked against these (`verify`).
            "sha256": {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in files.items()},
        })
        path = _rename_into_place(staging, runs_dir / f"{recipe_name}-{stamp}")
    except BaseException:
        if lock is not None:
            lock.release()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    lock.moved(path)
    return path, lock


def _rename_into_place(staging: Path, path: Path) -> Path:
    """Rename `staging` to `path`, or `path`-2, -3, ... when that name is taken."""
    n, candidate = 1, path
    while True:
        try:
            os.rename(staging, candidate)  # replaces only an empty folder
            return candidate
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            pass
        except OSError as error:
            if error.errno != errno.ENOTEMPTY:  # a run of the same second has the name
                raise
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")


def remove_abandoned_setups(runs_dir: Path, older_than: float = 600.0) -> None:
    """Remove hidden set-up folders left by a process killed while it set up a run: those
    older than `older_than` seconds whose lock nobody holds."""
    from dlrecipes import runlock

    for folder in runs_dir.glob(f".*{STAGING}"):
        try:
            if time.time() - folder.stat().st_mtime < older_than:
                continue
            lock = runlock.acquire(folder)
        except (OSError, RecipeError):
            continue  # being set up by a live process, or not ours to judge
        shutil.rmtree(folder, ignore_errors=True)
        lock.release()


def remove_temporary_files(run: Path) -> None:
    """Remove the temporary files of writes that did not finish (`.NAME.PID.tmp`, ...)."""
    for entry in run.glob(".*"):
        if ".tmp" in entry.name:
            remove(entry)


def remove(path: Path) -> None:
    """Remove a file, a link or a whole folder, whichever `path` is; nothing if it is gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def update(run: Path, **fields) -> dict:
    info = read_json(run / "run.json")
    info.update(fields)
    write_json(run / "run.json", info)
    return info


def info(run: Path) -> dict:
    """run.json; {"status": "unreadable", "problem": why} when it cannot be read."""
    meta, problem = try_read_json(run / "run.json")
    return meta if problem is None else {"status": UNREADABLE, "problem": problem}


def summary(run: Path) -> dict:
    """What `dlrecipes runs` shows of a run. A corrupt run.json, and a complete run's
    missing or damaged metrics.json or history.csv, make this run "unreadable", with `error`
    saying which file and why, and never fail the listing.

    An incomplete run shows the epochs its checkpoint holds (what a resume continues from),
    no test metrics (a metrics.json of a run killed before it completed is not a result),
    and `next`: the command that continues it. A run still marked running whose process is
    gone shows as `stopped`.
    """
    meta = info(run)
    problem = meta.get("problem") if meta.get("status") == UNREADABLE else None
    status = meta.get("status")
    complete = problem is None and status == RunStatus.COMPLETE
    test: dict = {}
    content: dict = {}
    if complete:
        content, problem = try_read_json(run / "metrics.json")
        test = content.get("test", {})
        if not isinstance(test, dict):
            test, problem = {}, "metrics.json: 'test' is not a mapping of metrics"
        if problem is None:  # the curves `runs compare` draws, and what a report is of
            why = _history(run)[1]
            problem = f"history.csv: {why}" if why else None
    row = {"run": run.name, "recipe": meta.get("recipe"), "started": meta.get("started"),
           "monitor": None, "validation": {}, "train_seconds": None, "early_stopping": None}
    if problem is not None:
        row.update(status=UNREADABLE, epochs=None, test={}, error=problem)
        return row
    if complete:
        # A search's pruned trial (dlrecipes.tune) is complete, stopped early by its pruner.
        pruned = isinstance(meta.get("tune"), dict) and meta["tune"].get("pruned_at_epoch")
        row.update(status=f"{status} (pruned)" if pruned else str(status), epochs=meta.get("epochs_done"), test=test,
                   **_results(run, meta, content))
        return row
    from dlrecipes import runlock
    from dlrecipes.train import checkpoint

    # The lock is the truth about a live process: a resume that has taken the run but not
    # yet marked it running (its data still loading) is running, not interrupted.
    owner = runlock.read_owner(run)
    alive = runlock.owner_alive(owner) if owner else False
    if alive or (alive is None and status == RunStatus.RUNNING):
        status = RunStatus.RUNNING
    elif status == RunStatus.RUNNING:
        status = "stopped"
    row.update(status=f"incomplete ({status})", epochs=checkpoint.epochs_done(run) or 0, test={})
    if status == RunStatus.RUNNING:
        row["owner"] = owner
    else:
        advised = meta.get("next")  # a failure's own advice (a diverged run: a lower rate)
        row["next"] = advised if isinstance(advised, str) else next_command(run)
    return row


def _results(run: Path, meta: dict, metrics: dict) -> dict:
    """A complete run's columns of `runs` beyond its test metrics: the metric it is judged
    by and its validation value, the training time and what early stopping did. A value
    of the wrong type (a hand-edited file) is left out, never fails the listing."""
    validation = metrics.get("validation")
    seconds = meta.get("train_seconds")
    stop = meta.get("early_stopping")
    return {
        "monitor": monitored(resolved_recipe(run)),
        "validation": validation if isinstance(validation, dict) else {},
        "train_seconds": seconds if is_number(seconds) else None,
        "early_stopping": stop if isinstance(stop, dict) else None,
    }


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolved_recipe(run: Path) -> dict | None:
    """RUN/recipe.yaml as a plain mapping, read with the YAML limits but not validated
    (cheap, for listings); None when it cannot be read. `load_run_recipe` is the strict way."""
    from dlrecipes.yamlio import read_yaml

    try:
        return read_yaml(run / "recipe.yaml")[0]
    except (RecipeError, OSError):
        return None


def monitored(resolved: dict | None) -> str | None:
    """The logged quantity a run is judged by, from its resolved recipe (a mapping, as in
    recipe.yaml): what early stopping watches, else what a plateau schedule watches, else
    the task's main metric on the validation split (`val_accuracy`). None for a generative
    task, whose losses make no epoch better than another, and for a recipe that cannot be read."""
    from dlrecipes import tasks

    try:
        train = resolved.get("train") or {}
        stop, schedule = train.get("early_stopping"), train.get("schedule") or {}
        if isinstance(stop, dict) and isinstance(stop.get("monitor"), str):
            return stop["monitor"]
        if schedule.get("name") == "plateau" and isinstance(schedule.get("monitor"), str):
            return schedule["monitor"]
        task = tasks.get(resolved["task"]["type"])
    except (AttributeError, KeyError, TypeError):
        return None
    return None if task.generative else f"val_{task.main_metric}"


def read_history(run: Path) -> list[dict]:
    """RUN/history.csv as rows ({"epoch": 1, "loss": 0.41, ...}); a value that is missing
    in a row is None. A RecipeError naming the file when it is missing or damaged."""
    rows, why = _history(run)
    if why is not None:
        raise damaged(run, "history.csv", why)
    return rows


def _history(run: Path) -> tuple[list[dict], str | None]:
    """(RUN/history.csv's rows, None), or ([], why it cannot be used, in a few words)."""
    import csv
    import io

    try:
        text = (run / "history.csv").read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], "it is missing"
    except OSError as error:
        return [], error.strerror or type(error).__name__
    except UnicodeDecodeError:
        return [], "not UTF-8 text"
    rows, number = [], 1  # the header's line: where a NUL byte fails the reader
    try:
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            if None in row:  # more fields than the header names
                return [], f"line {number} is not an epoch's numbers"
            values = {key: float(value) if value else None for key, value in row.items()}
            epoch = values.pop("epoch")
            if epoch is None or not epoch.is_integer():
                return [], f"line {number} is not an epoch's numbers"
            rows.append({"epoch": int(epoch), **values})
    except (ValueError, KeyError, csv.Error):
        return [], f"line {number} is not an epoch's numbers"
    return (rows, None) if rows else ([], "it holds no epochs")


SHOWN_ELSEWHERE = ("recipe", "status", "started", "finished", "resumed_at", "first_step_at", "train_seconds",
                   "epochs", "epochs_done", "resumed_from_epoch", "runtime", "early_stopping", "params",
                   "trainable_params", "sha256", "owner", "next", "error")
MAX_FILES = 200  # files `runs show` lists (a run has about ten; snapshots add a few)
CHANGED = "its contents changed since it was written (sha256 differs)"


def details(run: Path) -> dict:
    """Everything `runs show` shows of a run: status and timings (and a failure's error),
    the resolved recipe, the runtime, the environment, the metrics, early stopping and the
    files with their sizes (and whether each matches the sha256 run.json recorded). Each
    file that cannot be used - unreadable, missing, or changed since it was written - is
    named once in `problems`; the rest is shown."""
    from dlrecipes.yamlio import read_yaml

    listed, meta = summary(run), info(run)
    problems: list[str] = []

    def problem(text: str) -> None:
        """One line per file (each problem begins with its name): the first thing found wrong."""
        def file(line: str) -> str:
            return line.split(":", 1)[0].split(" ", 1)[0]

        if not any(file(seen) == file(text) for seen in problems):
            problems.append(text)

    if meta.get("status") == UNREADABLE:
        problem(meta["problem"])
        meta = {}
    elif "error" in listed:
        problem(listed["error"])

    def read(name: str) -> dict | None:
        if not (run / name).exists():
            return None
        content, why = try_read_json(run / name)
        if why:
            problem(why)
        return content if why is None else None

    try:
        recipe = read_yaml(run / "recipe.yaml")[0]
    except (RecipeError, OSError) as error:
        recipe = None
        problem(f"recipe.yaml: {error.what if isinstance(error, RecipeError) else error.strerror}")
    first_step = meta.get("first_step_at")
    error = meta.get("error")
    shown = {
        "run": run.name, "path": str(run), "recipe_name": meta.get("recipe"), "status": listed["status"],
        "error": error if isinstance(error, str) else None, "next": listed.get("next"),
        "timings": {
            "started": meta.get("started"), "first_step": _utc(first_step) if is_number(first_step) else None,
            "resumed_at": meta.get("resumed_at"), "finished": meta.get("finished"),
            "train_seconds": meta.get("train_seconds"),
        },
        "epochs": {"planned": meta.get("epochs"), "done": meta.get("epochs_done"),
                   "resumed_from": meta.get("resumed_from_epoch")},
        "params": meta.get("params"), "trainable_params": meta.get("trainable_params"),
        "early_stopping": meta.get("early_stopping"),
        "runtime": meta.get("runtime"),
        "environment": read("env.json"),
        "recipe": recipe,
        # A run that did not complete has no results, whatever a metrics.json says.
        "metrics": read("metrics.json") if meta.get("status") == RunStatus.COMPLETE else None,
        "record": {k: v for k, v in meta.items() if k not in SHOWN_ELSEWHERE},
        "files": run_files(run, meta.get("sha256")),
    }
    # What `evaluate` and resume would refuse: a recorded file gone, or changed since.
    recorded = meta.get("sha256") if isinstance(meta.get("sha256"), dict) else {}
    present = {entry["name"]: entry["sha256"] for entry in shown["files"]}
    for name in recorded:
        if name not in present and len(present) < MAX_FILES:
            problem(f"{name}: it is missing")
        elif present.get(name) == "differs":
            problem(f"{name}: {CHANGED}")
    return {**shown, "problems": problems}


def _utc(timestamp: float) -> str | None:
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def run_files(run: Path, recorded) -> list[dict]:
    """The files in a run folder, sub-folders included (links not followed): name, bytes,
    and `sha256`: "ok" or "differs" where run.json recorded one, else None."""
    recorded = recorded if isinstance(recorded, dict) else {}
    files = []
    for folder, names, found in os.walk(run):
        names.sort()
        for name in sorted(found):
            path = Path(folder) / name
            relative = path.relative_to(run).as_posix()
            try:
                size = path.lstat().st_size
                check = None
                if relative in recorded:
                    check = "ok" if sha256(path) == recorded[relative] else "differs"
            except OSError:
                size, check = None, None
            files.append({"name": relative, "bytes": size, "sha256": check})
            if len(files) >= MAX_FILES:
                return files
    return files


def next_command(run: Path) -> str:
    """The command that continues an incomplete run: resume from its checkpoint, or train
    its recipe again."""
    from dlrecipes.train import checkpoint

    if checkpoint.epochs_done(run) is not None:
        return f"dlrecipes train --resume {run}"
    return train_again_command(run)


def train_again_command(run: Path) -> str:
    """`dlrecipes train RUN/recipe.yaml` when the run's recipe can be read, else the
    recipe's name (a run folder whose recipe.yaml is damaged); with `--runs-dir` when the
    run is not in the default runs folder, so the new run lands beside the old one."""
    try:
        load_run_recipe(run)
    except (RecipeError, OSError):
        return _train_by_name(run)
    return f"dlrecipes train {run / 'recipe.yaml'}" + _runs_dir_flag(run)


def _train_by_name(run: Path) -> str:
    recipe = info(run).get("recipe")
    return f"dlrecipes train {recipe if isinstance(recipe, str) else 'RECIPE'}" + _runs_dir_flag(run)


def _runs_dir_flag(run: Path) -> str:
    """' --runs-dir PARENT' unless the run is in the default runs folder."""
    same = os.path.abspath(run.parent) == os.path.abspath(default_runs_dir())
    return "" if same else f" --runs-dir {run.parent}"


def is_run(path: Path) -> bool:
    """Whether `path` is a run folder; False, not an exception, for a name too long or a loop."""
    try:
        if Path(os.path.abspath(path)).name.startswith("."):  # a run being set up, or hidden
            return False
        return path.is_dir() and (path / "run.json").is_file()
    except (OSError, ValueError):
        return False


def all_runs(runs_dir: Path) -> list[Path]:
    """Runs in `runs_dir`, oldest first."""
    try:
        if not runs_dir.is_dir():
            return []
        runs = [p for p in runs_dir.iterdir() if is_run(p)]
    except OSError as error:
        raise RecipeError(
            f"cannot list the runs folder: {error.strerror or type(error).__name__}.",
            where=str(runs_dir),
            fix="check its permissions, or point --runs-dir elsewhere",
        ) from None
    # str(): a hand-edited run.json may hold a number there, which would not sort with text.
    return sorted(runs, key=lambda p: (str(info(p).get("started", "")), p.name))


def find_run(ref: str, runs_dir: Path, *, complete: bool = True, readable: bool = True) -> Path:
    """A run from a path, a run name in `runs_dir`, or a recipe name (its latest run).

    Refused: a run whose run.json cannot be read (unless `readable` is False: `runs show`
    shows what it can of one) and, when `complete`, a run that did not complete."""
    candidates = [Path(ref), runs_dir / ref]
    for path in candidates:
        if is_run(path):
            return _checked(path, complete, readable)
    latest = [p for p in all_runs(runs_dir) if info(p).get("recipe") == ref]
    if complete:
        latest = [p for p in latest if info(p).get("status") == RunStatus.COMPLETE] or latest
    if latest:
        return _checked(latest[-1], complete, readable)
    names = [p.name for p in all_runs(runs_dir)]
    shown = ref if len(ref) <= 80 else ref[:79] + "…"
    raise RecipeError(
        f"no run '{shown}'.{did_you_mean(ref, names)}",
        where=f"looked for a run folder '{shown}', '{runs_dir / shown}' and runs of recipe '{shown}'",
        fix="`dlrecipes runs` lists the runs (use --runs-dir if they are elsewhere)",
    )


def _checked(path: Path, complete: bool, readable: bool = True) -> Path:
    meta = info(path)
    status = meta.get("status")
    if status == UNREADABLE:
        if not readable:
            return path
        raise RecipeError(
            f"run '{path.name}' cannot be read: {meta.get('problem')}.",
            where=str(path / "run.json"),
            fix=f"pick another run from `dlrecipes runs`, or train again: {train_again_command(path)}",
        )
    if complete and status != RunStatus.COMPLETE:
        # The way on that `runs` shows for it: resume, the failure's own advice, or wait.
        row = summary(path)
        if row.get("next"):
            fix = f"run {row['next']}, or pick a complete run from `dlrecipes runs`"
        else:
            from dlrecipes import runlock

            fix = (f"wait until {runlock.describe(row.get('owner'))} has finished training it, "
                   "or pick a complete run from `dlrecipes runs`")
        raise RecipeError(
            f"run '{path.name}' is {row['status']}: its training did not finish.",
            where=str(path),
            fix=fix,
        )
    return path


def recipe_text(recipe) -> str:
    """RUN/recipe.yaml: the resolved recipe, written so that `load_run_recipe` reads it back
    exactly (a name such as '1e5' is quoted, or the loader would read a number)."""
    from dlrecipes.yamlio import dump_yaml

    return dump_yaml(recipe.model_dump(mode="json"))


def damaged(run: Path, name: str, why: str) -> RecipeError:
    """The one message for a run file that cannot be used: which file, why, what to do."""
    return RecipeError(
        f"run '{run.name}' has a damaged {name}: {why}.",
        where=str(run / name),
        # Not through recipe.yaml when that is the damaged file (nor would it be read).
        fix=f"restore {name} from a copy if you have one; otherwise train again: "
            f"{_train_by_name(run) if name == 'recipe.yaml' else train_again_command(run)}",
    )


def verify_all(run: Path) -> None:
    """`verify` every file whose sha256 run.json recorded (what resume relies on)."""
    recorded = info(run).get("sha256")
    for name in recorded if isinstance(recorded, dict) else {}:
        verify(run, name)


def verify(run: Path, name: str) -> None:
    """Refuse a run file that is missing or whose sha256 is not the one run.json recorded
    when it was written (truncated, overwritten, edited by hand). A file written before
    checksums were recorded is taken as it is."""
    path = run / name
    if not path.is_file():
        raise damaged(run, name, "it is missing")
    recorded = info(run).get("sha256")
    expected = recorded.get(name) if isinstance(recorded, dict) else None
    if expected is not None and sha256(path) != expected:
        raise damaged(run, name, CHANGED)


def load_run_recipe(run: Path):
    """The run's resolved recipe, read as strictly as any recipe (a run folder is user input)."""
    from dlrecipes.loader import validate
    from dlrecipes.yamlio import read_yaml

    path = run / "recipe.yaml"
    verify(run, "recipe.yaml")
    try:
        raw, node = read_yaml(path)
        return validate(raw, source=str(path), node=node)
    except RecipeError as error:
        if not path.exists():
            raise damaged(run, "recipe.yaml", "it is missing") from None
        problem = error.what.rstrip(".") + (f" ({error.where.replace(str(path), '').strip(', ')})" if error.where else "")
        raise damaged(run, "recipe.yaml", problem) from None


def read_run_json(run: Path, name: str) -> dict:
    """A JSON file of a run; a RecipeError naming it when it is missing or damaged."""
    verify(run, name)
    content, problem = try_read_json(run / name)
    if problem is not None:
        raise damaged(run, name, problem.removeprefix(f"{name}: "))
    return content


def load_model_file(run: Path, path: Path):
    """A Keras model saved in a run (model.keras, a snapshot), checked against the sha256
    recorded when the run completed; a RecipeError naming the file when it is damaged."""
    import keras

    import dlrecipes.adversarial  # noqa: F401  (registers the GAN model for load_model)
    import dlrecipes.layers  # noqa: F401  (registers our own layers for load_model)

    name = path.relative_to(run).as_posix() if path.is_relative_to(run) else path.name
    verify(run, name)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras reports a truncated zip as "File not found"
        why = "not a complete Keras archive (truncated or overwritten?)"
        if "zip" not in str(error).lower() and "File not found" not in str(error):
            why = f"Keras cannot load it ({type(error).__name__}: {str(error)[:200]})"
        raise damaged(run, name, why) from None


def load_trained(run: Path):
    """(recipe, data signature, uncompiled Keras model) of a complete run."""
    from dlrecipes.data import Signature

    recipe = load_run_recipe(run)
    try:
        signature = Signature(**read_run_json(run, "signature.json"))
    except TypeError as error:  # keys that are not a signature's
        raise damaged(run, "signature.json", f"not a data signature ({error})") from None
    return recipe, signature, load_model_file(run, run / "model.keras")
