"""`dlrecipes sample`: a grid of images from a GAN run's generator, as a PNG."""

from __future__ import annotations

import math
import os
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError


def sample_grid(model, n: int, seed: int):
    """`n` generated images tiled in a square grid with 2-pixel white gaps, values in [0, 1]."""
    import keras
    import numpy as np

    latent = keras.random.normal((n, model.latent_dim), seed=seed)
    images = np.clip(keras.ops.convert_to_numpy(model.generator(latent, training=False)), 0.0, 1.0)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    h, w, c = images.shape[1:]
    grid = np.ones((rows * (h + 2) + 2, columns * (w + 2) + 2, c), dtype="float32")
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = 2 + r * (h + 2), 2 + col * (w + 2)
        grid[top:top + h, left:left + w] = image
    return grid[..., 0] if c == 1 else grid


def write_samples(model, path: Path, n: int = 64, seed: int = 0) -> Path:
    """Write the grid to `path` (PNG), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    grid = sample_grid(model, n, seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        # Nearest-neighbour upscaling keeps 28x28 digits sharp when the PNG is viewed large.
        big = grid.repeat(4, axis=0).repeat(4, axis=1)
        matplotlib.image.imsave(tmp, big, cmap="gray", vmin=0.0, vmax=1.0)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def sample_run(run: Path, out: Path | None, n: int, seed: int) -> Path:
    recipe, _, model = runs.load_trained(run)
    if recipe.task.type != "adversarial":
        raise RecipeError(
            f"run '{run.name}' is a {recipe.task.type} model; `sample` draws images from a GAN's generator.",
            fix="pick a run of an adversarial recipe (e.g. mnist-dcgan); use `predict` for classifiers",
        )
    out = out or run / f"samples-seed{seed}.png"
    if out.suffix.lower() != ".png":
        raise RecipeError(f"'{out}' does not end in .png.", where="--out", fix="name a .png file")
    if not out.parent.is_dir():
        raise RecipeError(f"folder '{out.parent}' does not exist.", where="--out", fix="create it first")
    return write_samples(model, out, n, seed)
