"""Comparing runs: what differs in their recipes, their results side by side, and their
learning curves overlaid in one PNG.

Everything is read from the run folders (recipe.yaml, run.json, metrics.json, history.csv),
so comparing never imports TensorFlow. A recipe is compared as the flat list of its keys
(`train.optimizer.learning_rate`) whose values are not the same in every run; two runs of
the same recipe differ only where a `--set` or an edit made them differ.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
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
        plot_comparison(columns, plot, legend_labels(columns, differences))
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


def value_text(value) -> str:
    """A recipe value as YAML's flow style writes it: 0.001, null, [256, 128], {a: 1}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {value_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


LABEL_KEYS = 3  # differing keys a legend label names
LABEL_VALUE = 30  # characters of a value in a legend label
LABEL_NAME = 44  # characters of a run's name in a legend label
LABEL_LINE = 60  # characters of the differences' lines in a legend label


def legend_labels(columns: list[Column], differences: dict[str, list]) -> list[str]:
    """Each run's entry in the plot's legend (`_label`)."""
    return [_label(column.path.name, differences, index) for index, column in enumerate(columns)]


def _label(name: str, differences: dict[str, list], index: int) -> str:
    """A run's entry in the plot's legend: its name, then the values that set it apart,
    written as the table writes them ('epochs=2, learning_rate=0.001, early_stopping=null'),
    up to three, each shortened, wrapped to lines of `LABEL_LINE` characters."""
    parts = [f"{_short_key(key, differences)}={_shorten(value_text(values[index]), LABEL_VALUE)}"
             for key, values in differences.items()]
    if len(parts) > LABEL_KEYS:
        parts = parts[:LABEL_KEYS] + [f"+{len(parts) - LABEL_KEYS} more"]
    lines = [_shorten(name, LABEL_NAME, middle=True)]
    if parts:
        lines.append(textwrap.fill(", ".join(parts), LABEL_LINE, break_long_words=False))
    return "\n".join(lines)


def _short_key(key: str, keys) -> str:
    """The last part of a dotted key (`learning_rate`), or as many last parts as tell it
    from the other keys (`splits.train` beside `augment.train`)."""
    parts = key.split(".")
    for count in range(1, len(parts)):
        tail = ".".join(parts[-count:])
        if not any(other != key and (other == tail or other.endswith("." + tail)) for other in keys):
            return tail
    return key


def _shorten(text: str, width: int, middle: bool = False) -> str:
    """`text`, cut to `width` characters with '…' (in the middle: a run's name keeps its
    recipe and its timestamp)."""
    if len(text) <= width:
        return text
    if middle:
        head = (width - 1) // 2
        return text[:head] + "…" + text[len(text) - (width - 1 - head):]
    return text[: width - 1] + "…"


def plot_comparison(columns: list[Column], path: Path, labels: list[str]) -> None:
    """`comparison_figure`, written to `path`."""
    from dlrecipes.plots import save_figure

    save_figure(comparison_figure(columns, labels), path)


def comparison_figure(columns: list[Column], labels: list[str]):
    """One panel per curve the runs' task logs, and the learning rate (on a log scale when
    the rates are orders of magnitude apart): each run in its own colour, labelled `labels`, train solid, validation dashed, its best epoch starred. The
    legend below the panels gets as many columns as fit the figure's width."""
    from dlrecipes.plots import finish_axes, pyplot

    plt = pyplot()
    keys = list(columns[0].curves)
    with_rate = any(row.get("learning_rate") is not None for column in columns for row in column.history)
    panels = keys + (["learning_rate"] if with_rate else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.0), constrained_layout=True, squeeze=False)
    epochs = sorted({row["epoch"] for column in columns for row in column.history})
    log_rate = _log_rates([row.get("learning_rate") for column in columns for row in column.history])
    for ax, key in zip(axes[0], panels):
        shown = []
        for index, column in enumerate(columns):
            colour = f"C{index % 10}"
            x = [row["epoch"] for row in column.history]
            for prefix, style in (("", "-"), ("val_", "--")):
                if key == "learning_rate" and prefix:
                    continue
                values = [row.get(prefix + key) for row in column.history]
                if key == "learning_rate" and log_rate:
                    _mark_zeros(ax, x, values, colour)
                    values = [value if value is not None and value > 0 else None for value in values]
                if any(value is not None for value in values):
                    label = labels[index] if prefix == "" else None
                    ax.plot(x, values, style, color=colour, marker="o", markersize=3, label=label)
                    shown += values
            best = column.best() if len(x) > 1 else None
            if best is not None and column.monitor.removeprefix("val_") == key:
                ax.plot(*best, "*", color=colour, markersize=12, zorder=5, clip_on=False)
        ylabel = ax.get_ylabel() or ("learning rate" if key == "learning_rate" else key)  # _mark_zeros' own
        finish_axes(ax, epochs, shown, ylabel, legend=False)
        if key == "learning_rate" and log_rate:
            ax.set_yscale("log")
        elif key == "learning_rate" and shown:
            ax.set_ylim(bottom=0)  # a rate is never negative; where it reaches 0 shows
    handles, names = axes[0][0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], color="grey", linestyle="-"), Line2D([], [], color="grey", linestyle="--"),
                Line2D([], [], color="grey", marker="*", markersize=10, linestyle="none")]
    names += ["train", "validation", "best epoch (monitored metric)"]
    fig.suptitle(f"{len(columns)} runs compared", fontsize=11)
    _fitting_legend(fig, handles, names)
    return fig


def _log_rates(rates: list) -> bool:
    """Whether the rates are orders of magnitude apart: they are then drawn on a log scale."""
    positive = [rate for rate in rates if isinstance(rate, float) and rate > 0]
    return bool(positive) and max(positive) > 20 * min(positive)


def _mark_zeros(ax, x: list, rates: list, colour: str) -> None:
    """Rates of 0 (a schedule's end, a warm-up's start) have no place on a log scale: a
    triangle on the panel's floor marks each, so that no epoch, and no run, goes missing."""
    zeros = [epoch for epoch, rate in zip(x, rates) if rate == 0]
    if not zeros:
        return
    ax.plot(zeros, [0.0] * len(zeros), "v", color=colour, markersize=6, clip_on=False, zorder=5,
            transform=ax.get_xaxis_transform())
    ax.set_ylabel("learning rate (▼: 0)")


def _fitting_legend(fig, handles: list, names: list[str]) -> None:
    """The legend below the panels, in the most columns (up to 4) whose width fits the
    figure's; the figure is widened when not even one column fits."""
    for ncols in range(min(len(names), 4), 0, -1):
        legend = fig.legend(handles, names, loc="outside lower center", ncols=ncols, fontsize=8, frameon=False)
        fig.canvas.draw()
        box = legend.get_window_extent()
        if box.x0 >= 0 and box.x1 <= fig.bbox.x1:
            return
        legend.remove()
    legend = fig.legend(handles, names, loc="outside lower center", ncols=1, fontsize=8, frameon=False)
    fig.canvas.draw()
    fig.set_figwidth(legend.get_window_extent().width / fig.dpi + 0.5)
