"""`dlrecipes sample`: a grid of images from a GAN run's generator, as a PNG."""

from __future__ import annotations

from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError
from dlrecipes.writable import require_writable_file


def write_samples(model, path: Path, n: int = 64, seed: int = 0) -> Path:
    """`n` images from the generator, drawn from seeded latent vectors, as a PNG grid."""
    import keras

    from dlrecipes.plots import save_image_grid

    latent = keras.random.normal((n, model.latent_dim), seed=seed)
    images = keras.ops.convert_to_numpy(model.generator(latent, training=False))
    return save_image_grid(images, path, upscale=4)


def sample_run(run: Path, out: Path | None, n: int, seed: int) -> Path:
    out = out or run / f"samples-seed{seed}.png"
    require_writable_file(out, option="--out", suffix=".png")  # before the model is loaded
    recipe, _, model = runs.load_trained(run)
    if not recipe.task.problem.generative:
        raise RecipeError(
            f"run '{run.name}' is a {recipe.task.type} model; `sample` draws images from a GAN's generator.",
            fix="pick a run of an adversarial recipe (e.g. mnist-dcgan); use `predict` for classifiers",
        )
    return write_samples(model, out, n, seed)
