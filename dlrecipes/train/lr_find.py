"""The learning-rate range test: train a few hundred steps with the rate growing
exponentially, and watch where the loss falls fastest.

Smith, "Cyclical Learning Rates for Training Neural Networks" (WACV 2017), Section 3.3;
popularised as fastai's `lr_find`. The loss barely moves while the rate is tiny, falls
once it is large enough, and blows up when it is too large. The suggestion is the rate
where the smoothed loss falls most steeply - a rate to try before any decay schedule -
and the plot shows the whole curve so the choice can be judged by eye.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Sweep:
    rates: list[float]
    losses: list[float]  # smoothed, one per step
    suggestion: float
    minimum: float  # the rate at the lowest smoothed loss


def sweep(recipe, *, steps: int, start: float, end: float, runs_dir: Path = Path("runs")) -> Sweep:
    """Run the range test on the recipe's training data and model (no run directory)."""
    import dataclasses

    import keras

    from dlrecipes.errors import RecipeError
    from dlrecipes.train.fit import Session, compile_model

    if recipe.task.problem.generative:
        raise RecipeError(
            "lr-find follows one loss; a GAN trains two networks against each other.",
            fix="choose the GAN's rates from its paper (DCGAN: Adam 2e-4, beta_1 0.5)",
        )
    session = Session.build(recipe, runs_dir=runs_dir)  # runs_dir: where init_from is found
    model, data = session.model, session.data
    # One step per call, so the rate can change at every step.
    one_per_call = dataclasses.replace(session.runtime, steps_per_execution=1)
    with session.runtime.strategy.scope():
        compile_model(model, recipe, data.steps_per_epoch, one_per_call, constant_rate=start)
    factor = (end / start) ** (1 / max(1, steps - 1))
    rates, raw = [], []

    class RangeTest(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rate = start * factor**batch
            self.model.optimizer.learning_rate.assign(rate)
            rates.append(rate)

        def on_train_batch_end(self, batch, logs=None):
            # Keras logs the running mean of the epoch's loss; undo it to get this step's.
            mean = float(logs["loss"])
            loss = mean if batch == 0 else (batch + 1) * mean - batch * self.previous_mean
            self.previous_mean = mean
            raw.append(loss)
            if not math.isfinite(loss) or (len(raw) > 10 and loss > 4 * min(raw)):
                self.model.stop_training = True  # diverged: the rest of the curve says nothing

    # One fit epoch of `steps` batches: as many passes in epoch 0's order as that takes.
    model.fit(data.train_stream(0).dataset.repeat(), epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0,
              callbacks=[RangeTest()])
    per_step = [loss for loss in raw if math.isfinite(loss)]
    smoothed, average = [], 0.0
    for i, loss in enumerate(per_step):
        average = 0.98 * average + 0.02 * loss  # exponential smoothing, bias-corrected below
        smoothed.append(average / (1 - 0.98 ** (i + 1)))
    rates = rates[: len(smoothed)]
    slopes = [
        (smoothed[i + 1] - smoothed[i - 1]) / (math.log(rates[i + 1]) - math.log(rates[i - 1]))
        for i in range(1, len(smoothed) - 1)
    ]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    return Sweep(rates, smoothed, rates[steepest], rates[lowest])


def plot(result: Sweep, path: Path, title: str) -> None:
    """loss against learning rate (log scale), the suggestion marked; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    ax.plot(result.rates, result.losses)
    ax.axvline(result.suggestion, color="tab:red", linestyle="--", label=f"suggested {result.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
