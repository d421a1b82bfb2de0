"""Training curves: two quantities per epoch (loss and the main metric), train vs validation."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], keys: tuple[str, str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key in zip(axes, keys):
        for prefix, label, style in (("", "train", "-"), ("val_", "validation", "--")):
            values = [row.get(prefix + key) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


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
