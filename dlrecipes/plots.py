"""Training curves (curves.png and the comparison of runs) and image grids, as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

ONE_EPOCH_NOTE = "one epoch: points, not curves (curves need two or more epochs)"


def plot_curves(history: list[dict], keys: tuple[str, str], path: Path, title: str, *,
                monitor: str | None = None, best_epoch: int | None = None, note: str | None = None) -> None:
    """curves.png: one panel per quantity - `keys` (the task's loss and main metric), the
    `monitor`ed metric when it is neither, and the learning rate - train solid, validation
    dashed. The best epoch by `monitor` (`best_epoch` when early stopping chose the one
    whose weights were kept) is starred and annotated. `note` goes under the title."""
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    watched = monitor.removeprefix("val_") if monitor else None
    panels = list(keys)
    if watched and watched not in panels and any(_finite(row.get(monitor)) for row in history):
        panels.append(watched)
    rates = [row.get("learning_rate") for row in history]
    with_rate = any(_finite(rate) for rate in rates)
    fig, axes = plt.subplots(1, len(panels) + with_rate, figsize=(4.2 * (len(panels) + with_rate), 3.8),
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
                ax.plot(*best, "*", color="C3", markersize=13, zorder=5, label=f"best: epoch {best[0]}")
                right_half = best[0] > (epochs[0] + epochs[-1]) / 2  # the text goes inward
                ax.annotate(f"epoch {best[0]}\n{monitor} {best[1]:.4g}", best, textcoords="offset points",
                            xytext=(-8 if right_half else 8, 8), ha="right" if right_half else "left",
                            fontsize=8, color="C3")
        finish_axes(ax, epochs, shown, key)
    if with_rate:
        ax = axes[0][-1]
        ax.plot(epochs, rates, "-", marker="o", markersize=3, color="C2")
        finish_axes(ax, epochs, rates, "learning rate", legend=False)
    lines = [title] + [text for text in (note, ONE_EPOCH_NOTE if len(set(epochs)) == 1 else None) if text]
    fig.suptitle("\n".join(lines), fontsize=11)
    save_figure(fig, path)


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
    a range from zero with its value written beside it, not magnified around one dot."""
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
        ax.set_ylim(min(0.0, low - 0.2 * span), max(0.0, high + 0.2 * span))
        if len(set(epochs)) == 1:
            for line in ax.get_lines():
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
