"""Transfer learning: start from a trained run's weights, keep layers fixed, fit a new head.

A network trained on one dataset has learned features (edges, strokes, textures) that
another dataset of the same kind can reuse: copy its weights (`model.init_from: RUN`),
freeze them (`model.freeze`) so the few new examples only fit the head, and optionally
unfreeze everything for a second phase at a lower learning rate (`train.fine_tune`), as
in the Keras guide "Transfer learning & fine-tuning".

Weights are matched by layer name and shape; the head is never copied, since it belongs
to the old task, nor input statistics (`model.normalize`), which come from the new
training split. A text model takes over the source's vocabulary with its embedding.
"""

from __future__ import annotations

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.options import ALL_BUT_HEAD

def copy_weights(model, source) -> list[str]:
    """Copy every layer's weights but the head's from `source` where names and shapes match."""
    from dlrecipes.models.common import leaf_layers

    import keras

    by_name = {layer.name: layer for layer in leaf_layers(source)}
    copied = []
    for layer in leaf_layers(model):
        match = by_name.get(layer.name)
        if isinstance(layer, keras.layers.TextVectorization) and match is not None:
            # The embedding rows belong to the source's words: reuse its vocabulary too.
            layer.set_vocabulary(match.get_vocabulary())
            continue
        if isinstance(layer, keras.layers.Normalization):
            continue  # statistics come from this recipe's own training split
        if match is None or not layer.weights or is_head(layer):  # the new task gets a new head
            continue
        ours, theirs = layer.get_weights(), match.get_weights()
        if len(ours) == len(theirs) and all(a.shape == b.shape for a, b in zip(ours, theirs)):
            layer.set_weights(theirs)
            copied.append(layer.name)
    return copied


def load_weights_from(model, run) -> list[str]:
    """Copy a trained run's matching weights into `model`; an error when none match."""
    from dlrecipes import runs

    _, _, source = runs.load_trained(run)
    copied = copy_weights(model, source)
    if not copied:
        raise RecipeError(
            f"no layer of run '{run.name}' matches this model by name and shape, so nothing can be reused.",
            where="model.init_from",
            fix="start from a run of the same architecture (same layer names), or drop model.init_from",
        )
    return copied


def is_head(layer) -> bool:
    """The task's output layers, and those of auxiliary classifiers (`aux1_head_dense`)."""
    return layer.name.startswith("head_") or "_head_" in layer.name


def freeze(model, spec) -> list[str]:
    """Make the layers `spec` names untrainable ('all_but_head', or a list of layer names)."""
    from dlrecipes.models.common import leaf_layers

    layers = {layer.name: layer for layer in leaf_layers(model)}
    names = list(layers)
    if spec == ALL_BUT_HEAD:
        chosen = [layer for layer in layers.values() if not is_head(layer)]
    else:
        unknown = [name for name in spec if name not in names]
        if unknown:
            raise RecipeError(
                f"model.freeze names layers this model does not have: {', '.join(unknown)}."
                f"{did_you_mean(unknown[0], names)}",
                where="model.freeze",
                fix="`dlrecipes describe RECIPE` lists the layer names (in 'body/name', the part after '/')",
            )
        chosen = [layers[name] for name in spec]
    for layer in chosen:
        layer.trainable = False
    return [layer.name for layer in chosen if layer.weights]


def unfreeze(model) -> None:
    from dlrecipes.models.common import leaf_layers

    for layer in leaf_layers(model):
        layer.trainable = True
