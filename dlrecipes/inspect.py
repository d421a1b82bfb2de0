"""`dlrecipes data inspect`: look at a recipe's data before training on it.

Counts per split, the class balance, a summary of the inputs (per column for tables,
pixel statistics for images, lengths for text, the series for windows) and a few
examples; image datasets also get a grid of training examples, each under its label, as a PNG.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError

LISTED = 3  # examples listed when --examples is not given
DRAWN = 36  # examples in the grid when --examples is not given
LABEL_CHARACTERS = 14  # what fits above a panel; longer class names are cut
CATEGORIES = 8  # a category column's most common categories shown on the console


def inspect_data(recipe, examples: int | None = None, grid: Path | None = None) -> dict:
    """The report `data inspect` prints. `examples`: how many are listed, and drawn in
    `grid` (default LISTED and DRAWN)."""
    import numpy as np

    source = source_of(recipe)
    signature = source.train_signature()
    if grid is not None:
        _check_grid(recipe, signature, DRAWN if examples is None else examples)
    datasets = source.load()
    report = {
        "recipe": recipe.name, "source": recipe.data.source,
        "input": {"shape": list(signature.input_shape), "dtype": signature.input_dtype},
        "splits": {}, "classes": list(signature.class_names) if signature.class_names else None,
    }
    for role, ds in datasets.items():
        xs, ys = [], []
        for x, y in ds.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
        ys = np.asarray(ys)
        entry = {"examples": len(ys)}
        if signature.class_names and recipe.task.problem.one_label_per_example:
            counts = np.bincount(ys.astype(int).ravel(), minlength=len(signature.class_names))
            entry["class_balance"] = {name: int(c) for name, c in zip(signature.class_names, counts)}
        elif ys.size:
            entry["target"] = {"mean": float(ys.mean()), "std": float(ys.std()), "min": float(ys.min()), "max": float(ys.max())}
        if role == "train":
            entry["inputs"] = _summary(xs, signature)
            listed = LISTED if examples is None else examples
            report["examples"] = [_shown(x, y, signature) for x, y in zip(xs[:listed], ys[:listed])]
            if grid is not None:
                drawn = DRAWN if examples is None else examples
                labels = [label_text(y, signature) for y in ys[:drawn]]
                save_grid(grid_figure(xs[:drawn], labels), grid)
                report["grid"], report["grid_labels"] = str(grid), labels
        report["splits"][role] = entry
    return report


def _summary(xs: list, signature) -> dict:
    import numpy as np

    if signature.columns:
        summary = {}
        for name, kind in signature.columns.items():
            values = [x[name] for x in xs]
            if kind == "numeric":
                v = np.asarray(values, dtype="float64")
                summary[name] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                                 "min": float(v.min()), "max": float(v.max())}
            else:
                found, counts = np.unique([v.decode() if isinstance(v, bytes) else str(v) for v in values], return_counts=True)
                summary[name] = {"categories": {str(k): int(c) for k, c in zip(found, counts)}}
        return summary
    if signature.input_dtype == "string":
        words = np.array([len(x.decode().split()) for x in xs])
        return {"words per text": {"mean": round(float(words.mean()), 1), "median": float(np.median(words)),
                                   "max": int(words.max())}}
    v = np.asarray(xs, dtype="float64")
    return {"values": {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                       "min": float(v.min()), "max": float(v.max())}}


def _shown(x, y, signature) -> dict:
    import numpy as np

    label = signature.class_names[int(y)] if signature.class_names and np.ndim(y) == 0 else np.asarray(y).tolist()
    if signature.columns:
        return {"row": {k: (v.decode() if isinstance(v, bytes) else float(v)) for k, v in x.items()}, "target": label}
    if signature.input_dtype == "string":
        return {"text": x.decode()[:200], "label": label}
    if len(signature.input_shape) == 3:
        return {"image": f"{x.shape[0]}x{x.shape[1]}x{x.shape[2]}", "label": label}
    return {"inputs": np.asarray(x).ravel()[:10].round(4).tolist(), "target": label}


def summary_rows(inputs: dict) -> list[tuple[str, str]]:
    """The training inputs' summary (`_summary`) as (what, a line about it) for a person:
    "mean 33.41, std 78.67, range 0..255", a category column's counts."""
    rows = []
    for name, stats in inputs.items():
        if "categories" in stats:
            counts = sorted(stats["categories"].items(), key=lambda item: -item[1])
            text = ", ".join(f"{category} {count:,}" for category, count in counts[:CATEGORIES])
            if len(counts) > CATEGORIES:
                text += f", ... {len(counts) - CATEGORIES} more"
            rows.append((name, f"{len(counts)} categories: {text}"))
        elif "std" in stats:
            rows.append((name, f"mean {stats['mean']:.4g}, std {stats['std']:.4g}, "
                               f"range {stats['min']:.4g}..{stats['max']:.4g}"))
        else:
            rows.append((name, ", ".join(f"{key} {_number(value)}" for key, value in stats.items())))
    return rows


def example_cells(example: dict, input_shape: list[int]) -> tuple[str, str]:
    """A listed example (`_shown`) as (the example, its label or target) for a person;
    `input_shape` tells whether a list of inputs is the first values only."""
    label = example.get("label", example.get("target"))
    label = label if isinstance(label, str) else _number(label)
    if "row" in example:
        shown = ", ".join(f"{key} {_number(value)}" for key, value in example["row"].items())
    elif "text" in example:
        shown = " ".join(example["text"].split())  # one line per example
    elif "image" in example:
        shown = f"{example['image']} image"
    else:
        shown = _number(example["inputs"]) + (" ..." if math.prod(input_shape) > len(example["inputs"]) else "")
    return shown, label


def _number(value) -> str:
    """4 significant digits (float32's 26.600000381469727 is 26.6); lists space-separated."""
    if isinstance(value, list):
        return " ".join(_number(item) for item in value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _check_grid(recipe, signature, drawn: int) -> None:
    """--grid draws images, at least one: refused before any data is loaded."""
    if len(signature.input_shape) != 3:
        raise RecipeError(f"--grid draws images; recipe '{recipe.name}' has inputs of shape "
                          f"{tuple(signature.input_shape)}, not images.", where="--grid",
                          fix="leave out --grid: the report lists examples of any data")
    if drawn < 1:
        raise RecipeError("--grid with --examples 0 would draw nothing.", where="--examples",
                          fix=f"--examples N, N at least 1 (or leave it out: the grid shows {DRAWN})")


def label_text(y, signature) -> str:
    """What a grid panel says above an example: its class name (names of a multi-label
    example's classes), else its target's value."""
    import numpy as np

    y = np.asarray(y)
    names = signature.class_names
    if names and y.ndim == 0:
        text = names[int(y)]
    elif names and y.ndim == 1 and len(y) == len(names):
        text = ",".join(name for name, on in zip(names, y) if on >= 0.5) or "(none)"
    else:
        text = " ".join(f"{v:.3g}" for v in y.ravel()[:3])
    return text if len(text) <= LABEL_CHARACTERS else text[: LABEL_CHARACTERS - 1] + "…"


def grid_figure(images, labels: list[str]):
    """A square-ish grid of `images` (N, H, W, C), each titled with its label."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import numpy as np
    from matplotlib.figure import Figure

    images = _unit_range(np.stack(images))
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    figure = Figure(figsize=(1.1 * columns, 1.3 * rows), dpi=100, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, label in zip(axes, images, labels):
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(image[..., :3], interpolation="nearest")
        ax.set_title(label, fontsize=8)
    return figure


def _unit_range(images):
    """Pixels in [0, 1] for drawing: uint8 over 255; other values scaled from their range
    when they leave [0, 1] (a dataset normalised to [-1, 1], say)."""
    import numpy as np

    if images.dtype == np.uint8:
        return images.astype("float32") / 255
    images = images.astype("float32")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        images = (images - low) / max(high - low, 1e-12)
    return images


def save_grid(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    runs.write_atomic(path, buffer.getvalue())
