"""Comparing runs: what differs in their recipes, their results side by side, and their
learning curves overlaid in one PNG.

Everything is read from the run folders (recipe.yaml, run.json, metrics.json, history.csv),
so comparing never imports TensorFlow. A recipe is compared as the flat list of its keys
(`train.optimizer.learning_rate`) whose values are not the same in every run; two runs of
the same recipe differ only where a `--set` or an edit made them differ.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError

ABSENT = "(absent)"  # a key one run's recipe has and another's lacks (e.g. another data source)


@dataclasses.dataclass
class Column:
    """One compared run, read whole before anything is drawn."""

    path: Path
    recipe: object  # the validated recipe (recipe.Recipe)
    meta: dict  # run.json
    metrics: dict  # metrics.json
    history: list[dict]  # history.csv

    @property
    def curves(self) -> tuple[str, ...]:
        return tuple(self.recipe.task.problem.curves)

    @property
    def monitor(self) -> str | None:
        return runs.monitored(self.recipe.model_dump(mode="json"))

    def best(self) -> tuple[int, float] | None:
        """(epoch, value) of the best epoch by the monitored metric: the one early stopping
        chose when it recorded one."""
        from dlrecipes.plots import best_point

        stop = self.meta.get("early_stopping")
        epoch = stop.get("best_epoch") if isinstance(stop, dict) else None
        return best_point(self.history, self.monitor, epoch if isinstance(epoch, int) else None)


def read_column(path: Path) -> Column:
    return Column(path, runs.load_run_recipe(path), runs.info(path), runs.read_run_json(path, "metrics.json"),
                  runs.read_history(path))


def compare_runs(paths: list[Path], plot: Path | None) -> dict:
    """The comparison `runs compare` shows (one entry per run under "runs", in the order
    given), after writing the overlaid curves to `plot` (None: not drawn; `runs compare`
    shows the table first, then draws them with `plot_runs`)."""
    if len(paths) < 2:
        raise RecipeError(f"comparing needs at least two runs; {len(paths)} given.",
                          fix="dlrecipes runs compare RUN RUN [RUN ...] (`dlrecipes runs` lists them)")
    seen: dict[str, Path] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            raise RecipeError(f"run '{path.name}' is given twice.",
                              where=f"{seen[key]} and {path}",
                              fix="a recipe name means its latest complete run; name the other run by its folder")
        seen[key] = path
    columns = [read_column(path) for path in paths]
    _check_overlay(columns)
    differences = differing([column.recipe.model_dump(mode="json") for column in columns])
    if plot is not None:
        plot_comparison(columns, plot, [_label(column.path.name, differences, index) for index, column in enumerate(columns)])
    entries = []
    for index, column in enumerate(columns):
        meta, metrics = column.meta, column.metrics
        entries.append({
            "run": column.path.name, "path": str(column.path), "recipe": column.recipe.name,
            "task": column.recipe.task.type,
            "differs": {key: values[index] for key, values in differences.items()},
            "validation": _mapping(metrics.get("validation")),
            "test": _mapping(metrics.get("test")),
            "epochs": meta.get("epochs_done"),
            "weights_epoch": metrics.get("weights_epoch"),  # None for runs from before it was recorded
            "early_stopping": meta.get("early_stopping") if isinstance(meta.get("early_stopping"), dict) else None,
            "params": meta.get("params"),
            "train_seconds": meta.get("train_seconds"),
        })
    return {"runs": entries, "differing_keys": list(differences), "plot": str(plot) if plot is not None else None}


def plot_runs(paths: list[Path], plot: Path) -> None:
    """The overlaid curves of `compare_runs(paths, ...)`, written to `plot`."""
    compare_runs(paths, plot)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _check_overlay(columns: list[Column]) -> None:
    """Refuse runs whose tasks log different quantities: their curves share no axis."""
    first = columns[0]
    for other in columns[1:]:
        if other.curves != first.curves:
            raise RecipeError(
                f"runs '{first.path.name}' ({first.recipe.task.type}: {', '.join(first.curves)}) and "
                f"'{other.path.name}' ({other.recipe.task.type}: {', '.join(other.curves)}) log different "
                "quantities, so their curves cannot be overlaid.",
                fix="compare runs of tasks that log the same quantities; `dlrecipes runs show RUN` shows any one run",
            )


def differing(trees: list, prefix: str = "") -> dict[str, list]:
    """{dotted key: the value in each tree} for every key whose values are not all equal.

    Mappings are walked into; anything else (a number, a list, a mapping set in one tree
    and null in another) is compared whole and reported at its own key.
    """
    if all(isinstance(tree, dict) for tree in trees):
        found: dict[str, list] = {}
        for key in dict.fromkeys(key for tree in trees for key in tree):
            found.update(differing([tree.get(key, ABSENT) for tree in trees], f"{prefix}{key}."))
        return found
    if all(tree == trees[0] for tree in trees[1:]):
        return {}
    return {prefix.removesuffix("."): trees}


def _label(name: str, differences: dict[str, list], index: int) -> str:
    """A run's name in the plot's legend, with up to three of the simple values that set it
    apart ('mnist-dnn-20261201T152825Z: learning_rate=0.0001')."""
    parts = [f"{key.rsplit('.', 1)[-1]}={values[index]}" for key, values in differences.items()
             if not isinstance(values[index], (dict, list))][:3]
    return f"{name}: {', '.join(parts)}" if parts else name


def plot_comparison(columns: list[Column], path: Path, labels: list[str]) -> None:
    """One panel per curve the runs' task logs, and the learning rate (on a log scale when
    the runs' rates are orders of magnitude apart): each run in its own colour, labelled
    `labels`, train solid, validation dashed, its best epoch starred."""
    from dlrecipes.plots import finish_axes, pyplot, save_figure

    plt = pyplot()
    keys = list(columns[0].curves)
    with_rate = any(row.get("learning_rate") is not None for column in columns for row in column.history)
    panels = keys + (["learning_rate"] if with_rate else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.0), constrained_layout=True, squeeze=False)
    epochs = [row["epoch"] for column in columns for row in column.history]
    rates = [row.get("learning_rate") for column in columns for row in column.history]
    positive = [rate for rate in rates if isinstance(rate, float) and rate > 0]
    log_rate = bool(positive) and max(positive) > 20 * min(positive)  # rates orders of magnitude apart
    for ax, key in zip(axes[0], panels):
        shown = []
        for index, column in enumerate(columns):
            colour = f"C{index % 10}"
            x = [row["epoch"] for row in column.history]
            for prefix, style, part in (("", "-", "train"), ("val_", "--", "validation")):
                if key == "learning_rate" and prefix:
                    continue
                values = [row.get(prefix + key) for row in column.history]
                if key == "learning_rate" and log_rate:  # a schedule's final zero has no place there
                    values = [value if value and value > 0 else None for value in values]
                if any(value is not None for value in values):
                    label = labels[index] if prefix == "" else None
                    ax.plot(x, values, style, color=colour, marker="o", markersize=3, label=label)
                    shown += values
            best = column.best() if len(x) > 1 else None
            if best is not None and column.monitor.removeprefix("val_") == key:
                ax.plot(*best, "*", color=colour, markersize=12, zorder=5)
        finish_axes(ax, sorted(set(epochs)), shown, "learning rate" if key == "learning_rate" else key, legend=False)
        if key == "learning_rate" and log_rate:
            ax.set_yscale("log")
    handles, labels = axes[0][0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], color="grey", linestyle="-"), Line2D([], [], color="grey", linestyle="--"),
                Line2D([], [], color="grey", marker="*", markersize=10, linestyle="none")]
    labels += ["train", "validation", "best epoch (monitored metric)"]
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8, frameon=False)
    fig.suptitle(f"{len(columns)} runs compared", fontsize=11)
    save_figure(fig, path)
