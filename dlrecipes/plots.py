"""Training curves (curves.png and the comparison of runs) and image grids, as PNG files."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

ONE_EPOCH_NOTE = "one epoch: points, not curves (curves need two or more epochs)"


def plot_curves(history: list[dict], keys: tuple[str, str], path: Path, title: str, *,
                monitor: str | None = None, best_epoch: int | None = None, note: str | None = None) -> None:
    """curves.png: `curves_figure`, written to `path`."""
    save_figure(curves_figure(history, keys, title, monitor=monitor, best_epoch=best_epoch, note=note), path)


def curves_figure(history: list[dict], keys: tuple[str, str], title: str, *,
                  monitor: str | None = None, best_epoch: int | None = None, note: str | None = None):
    """One panel per quantity - `keys` (the task's loss and main metric), the `monitor`ed
    metric when it is neither, and the learning rate - train solid, validation dashed. The
    best epoch by `monitor` (`best_epoch` when early stopping chose the one whose weights
    were kept) is starred, its value in the legend (text beside the star would cover the
    curves). `note` goes under the title, wrapped to the figure's width."""
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    watched = monitor.removeprefix("val_") if monitor else None
    panels = list(keys)
    if watched and watched not in panels and any(_finite(row.get(monitor)) for row in history):
        panels.append(watched)
    rates = [row.get("learning_rate") for row in history]
    with_rate = any(_finite(rate) for rate in rates)
    width = 4.2 * (len(panels) + with_rate)
    fig, axes = plt.subplots(1, len(panels) + with_rate, figsize=(width, 3.8),
                             constrained_layout=True, squeeze=False)
    best = best_point(history, monitor, best_epoch) if len(history) > 1 else None
    for ax, key in zip(axes[0], panels):
        shown = []
        for prefix, label, style in (("", "train", "-"), ("val_", "validation", "--")):
            values = [row.get(prefix + key) for row in history]
            if any(_finite(v) for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
                shown += values
        if best is not None:
            ax.axvline(best[0], color="C3", alpha=0.3, linestyle=":", linewidth=1)
            if key == watched:
                ax.plot(*best, "*", color="C3", markersize=13, zorder=5, clip_on=False,
                        label=f"best: epoch {best[0]}, {monitor} {best[1]:.4g}")
        finish_axes(ax, epochs, shown, key)
    if with_rate:
        ax = axes[0][-1]
        ax.plot(epochs, rates, "-", marker="o", markersize=3, color="C2")
        finish_axes(ax, epochs, rates, "learning rate (at the epoch's start)", legend=False)
    notes = [text for text in (note, ONE_EPOCH_NOTE if len(set(epochs)) == 1 else None) if text]
    fig.suptitle("\n".join([title, *(wrap(text, width) for text in notes)]), fontsize=10)
    return fig


def wrap(text: str, inches: float, points: float = 10) -> str:
    """`text` in lines that fit `inches` at `points` (a character is about half as wide as
    the font is high; a margin is left for the figure's edges)."""
    return textwrap.fill(text, width=max(20, int(0.9 * inches * 72 / (0.55 * points))))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def best_point(history: list[dict], monitor: str | None, epoch: int | None) -> tuple[int, float] | None:
    """(epoch, value) of the best epoch by `monitor` (or of epoch `epoch`); None without one."""
    from dlrecipes.tasks import lower_is_better

    if not monitor:
        return None
    scored = [(row["epoch"], row[monitor]) for row in history if _finite(row.get(monitor))]
    if epoch is not None:
        scored = [pair for pair in scored if pair[0] == epoch]
    if not scored:
        return None
    choose = min if lower_is_better(monitor) else max
    return choose(scored, key=lambda pair: pair[1])


def pyplot():
    """matplotlib.pyplot, drawing to files only (never needs a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish_axes(ax, epochs: list[int], values: list, ylabel: str, legend: bool = True) -> None:
    """Labels, grid and legend, whole-number epoch ticks, and a y-range that reads for short
    runs: one epoch (or a quantity that never moved, a constant learning rate) is drawn on
    a range from zero (above it for what is never negative, a rate of 0 included) with its
    value written beside it, not magnified around one dot."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.12)  # room for the annotations
    if len(set(epochs)) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks([epochs[0]])
    finite = [v for v in values if _finite(v)]
    if finite and (len(set(epochs)) == 1 or max(finite) - min(finite) <= 1e-9 * max(abs(v) for v in finite)):
        low, high = min(finite), max(finite)
        span = max(abs(low), abs(high)) or 1.0
        ax.set_ylim(0.0 if low >= 0 else low - 0.2 * span, max(0.0, high + 0.2 * span))
        if len(set(epochs)) == 1:
            for line in ax.get_lines():
                line.set_clip_on(False)  # a point at 0 sits on the frame: drawn whole
                for x, y in zip(line.get_xdata(), line.get_ydata()):
                    if _finite(y):
                        ax.annotate(f"{y:.4g}", (x, y), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def save_figure(fig, path: Path, dpi: int = 100) -> None:
    """Write `fig` to `path` as a PNG through a temporary file and a rename, then close it."""
    import os

    plt = pyplot()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def save_image_grid(images, path: Path, upscale: int = 1) -> Path:
    """Tile `images` (N, H, W, C; floats in [0, 1] or uint8) in a square grid with 2-pixel
    white gaps and write it as a PNG, atomically. `upscale` repeats each pixel, which keeps
    28x28 digits sharp when the PNG is viewed large."""
    import math
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    import numpy as np

    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255
    n, h, w, c = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.ones((rows * (h + 2) + 2, columns * (w + 2) + 2, c), dtype="float32")
    for i, image in enumerate(np.clip(images, 0.0, 1.0)):
        r, col = divmod(i, columns)
        top, left = 2 + r * (h + 2), 2 + col * (w + 2)
        grid[top:top + h, left:left + w] = image
    grid = grid.repeat(upscale, axis=0).repeat(upscale, axis=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        if c == 1:
            matplotlib.image.imsave(tmp, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            matplotlib.image.imsave(tmp, grid[..., :3])
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# --- evaluation reports (dlrecipes.evaluation) ----------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 100) -> Path:
    """Write a figure as a PNG through a temporary file, and close it."""
    import os

    plt = _pyplot()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def plot_confusion_matrix(counts, names: list[str], path: Path, title: str) -> Path:
    """Two panels: the counts, and each true class's row as fractions (its recall on the
    diagonal). Cells are written out up to 20 classes; the ticks name the classes up to 50."""
    import numpy as np
    from matplotlib.colors import LogNorm, Normalize

    plt = _pyplot()
    counts = np.asarray(counts)
    n = len(names)
    rows = counts.sum(axis=1, keepdims=True)
    fractions = counts / np.maximum(rows, 1)
    side = min(7.0, 2.5 + 0.45 * n)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.5, side), constrained_layout=True)
    # Counts on a log scale, so that the few mistakes show beside the large diagonal; empty
    # cells (no example) stay white and unlabelled in both panels.
    log = LogNorm(vmin=1, vmax=max(2, int(counts.max())))
    panels = ((axes[0], counts, log, "examples (log scale)", "{:d}".format),
              (axes[1], fractions, Normalize(0, 1), "fraction of the true class",
               lambda v: f"{v:.2f}" if v >= 0.005 else "<.01"))
    for ax, values, norm, label, shown in panels:
        image = ax.imshow(np.ma.masked_where(counts == 0, values), cmap="Blues", norm=norm)
        fig.colorbar(image, ax=ax, shrink=0.8, label=label)
        if n <= 50:
            ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8)
            ax.set_yticks(range(n), names, fontsize=8)
        if n <= 20:
            for i, j in zip(*np.nonzero(counts)):
                dark = norm(values[i, j]) > 0.6
                ax.text(j, i, shown(values[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    axes[0].set_title("counts")
    axes[1].set_title("normalised by true class (row)")
    fig.suptitle(title)
    return _save(fig, path)


def plot_labelled_images(images, labels: list[str], path: Path, title: str) -> Path:
    """A grid of images, each with its label above it (e.g. 'true -> predicted'). Inputs
    outside [0, 1] (not divided by 255, or standardised) are stretched to it, all alike."""
    import math

    import numpy as np

    plt = _pyplot()
    images = np.asarray(images, dtype="float32")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        images = (images - low) / (high - low or 1.0)
    columns = min(6, len(images))
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows + 0.4), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels):
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(np.clip(image[..., :3], 0.0, 1.0))
        ax.set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_roc_pr(roc: dict, pr: dict, roc_auc: float, average_precision: float, path: Path, title: str) -> Path:
    """The ROC curve (with the diagonal of chance) and the precision-recall curve, their areas in the legends."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
    left.plot(roc["fpr"], roc["tpr"], label=f"ROC AUC {roc_auc:.4f}")
    left.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    left.set_xlabel("false-positive rate")
    left.set_ylabel("true-positive rate (recall)")
    left.set_title("ROC")
    right.step(pr["recall"], pr["precision"], where="post", label=f"average precision {average_precision:.4f}")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_title("precision-recall")
    for ax in (left, right):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is left else "lower left")
    fig.suptitle(title)
    return _save(fig, path)


def plot_predicted_vs_true(true, predicted, path: Path, title: str, max_points: int = 5000) -> Path:
    """Predictions against targets (every output; a sample of `max_points`), and the line y = x."""
    import numpy as np

    plt = _pyplot()
    true, predicted = np.asarray(true).reshape(-1), np.asarray(predicted).reshape(-1)
    if len(true) > max_points:
        keep = np.random.default_rng(0).choice(len(true), max_points, replace=False)
        true, predicted = true[keep], predicted[keep]
    fig, ax = plt.subplots(figsize=(5.5, 5), constrained_layout=True)
    ax.scatter(true, predicted, s=8, alpha=0.5)
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    ax.plot([low, high], [low, high], ":", color="grey", label="predicted = true")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def plot_residuals(residuals, path: Path, title: str) -> Path:
    """A histogram of predicted - true, every output together."""
    import numpy as np

    plt = _pyplot()
    residuals = np.asarray(residuals).reshape(-1)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.hist(residuals, bins=min(50, max(10, len(residuals) // 10)))
    ax.axvline(0, color="grey", linestyle=":")
    ax.set_xlabel("residual (predicted - true)")
    ax.set_ylabel("examples")
    ax.set_title(f"{title}\nmean {residuals.mean():.4g}, std {residuals.std():.4g}")
    ax.grid(alpha=0.3)
    return _save(fig, path)
