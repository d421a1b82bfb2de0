"""`validate` and `train` agree: what the check phase accepts, everything after it builds.

For every recipe that `load_recipe` (validate's front door) accepts, the rest of what a
training sets up before it reads examples - the model for the data's metadata, its
initializers and regularizers, the compiled loss and metrics, the callbacks, the
augmentation layers - must succeed: no error there that validate missed. And what the check
phase refuses it refuses with one message naming the key, not a Keras error.
"""

from __future__ import annotations

import pytest

from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError
from dlrecipes.loader import all_recipes, load_recipe
from dlrecipes.models import build_model, list_models

# One recipe for each kind of input a source gives (Signature.kind).
BY_KIND = {
    "images": "mnist-dnn",
    "table": "pima-diabetes-dnn",
    "text": "sms-spam-lstm",
    "sequences": "melbourne-temp-lstm",
}


def set_up_without_examples(recipe):
    """Everything `train.fit.Session.build` does that needs no examples, in its order."""
    from dlrecipes.data.augment import build_layers
    from dlrecipes.models.common import auxiliary_weights
    from dlrecipes.train.fit import compile_model, training_callbacks
    from dlrecipes.train.initializers import apply_initializers
    from dlrecipes.train.regularizers import apply_regularizers

    signature = source_of(recipe).signature()
    model = build_model(recipe, signature)
    apply_initializers(model, recipe.train.init, recipe.train.seed)
    apply_regularizers(model, recipe.train.regularizer)
    compile_model(model, recipe, steps_per_epoch=10)
    training_callbacks(recipe, auxiliary=bool(auxiliary_weights(model)))
    build_layers(recipe.train.augment, tuple(signature.input_shape), recipe.train.seed)
    return model


@pytest.mark.parametrize("name", [n for n in all_recipes() if n != "image-folder-cnn"])
def test_every_builtin_recipe_sets_up_as_validate_promised(name):
    # cifar10 and imdb are not on this machine: their metadata is known without the data.
    set_up_without_examples(load_recipe(name).recipe)


def test_the_image_folder_recipe_sets_up_on_a_folder(tmp_path):
    import numpy as np
    import tensorflow as tf

    for label in ("cats", "dogs"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            image = np.full((16, 16, 3), 40 * i, np.uint8)
            (tmp_path / "images" / label / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    recipe = load_recipe("image-folder-cnn", [f"data.data_dir={tmp_path}"]).recipe
    assert set_up_without_examples(recipe).output_shape[-1] == 2


def _variant(arch: str, kind: str) -> list[str]:
    overrides = [f"model={{arch: {arch}}}", "target=null", "train.augment=[]"]
    if arch == "rnn" and kind == "text":
        overrides.append("model.text={}")
    if arch == "dcgan":
        overrides.append("task={type: adversarial}")
    return overrides


@pytest.mark.parametrize("kind", BY_KIND)
@pytest.mark.parametrize("arch", list_models())
def test_each_architecture_on_each_kind_of_input_is_refused_by_validate_or_builds(arch, kind):
    try:
        recipe = load_recipe(BY_KIND[kind], _variant(arch, kind)).recipe
    except RecipeError as error:
        message = str(error)
        assert "model.arch" in message or "model.text" in message or "task.type" in message, message
        return
    set_up_without_examples(recipe)


def test_which_architectures_take_which_inputs():
    """The pairs the check phase accepts: a change here is a change of what users can train."""
    accepted = set()
    for arch in list_models():
        for kind, name in BY_KIND.items():
            try:
                load_recipe(name, _variant(arch, kind))
                accepted.add((arch, kind))
            except RecipeError:
                pass
    images_only = {"alexnet", "cnn", "dcgan", "inception", "nin", "resnet", "vgg"}
    expected = {(arch, "images") for arch in images_only}
    expected |= {("dnn", kind) for kind in ("images", "table", "sequences")}
    expected |= {("rnn", "text"), ("rnn", "sequences")}
    assert accepted == expected


# What an adversarial review found `validate` accepting and training then refusing or
# crashing on; each is now refused by the check phase, at the key that causes it.
REFUSED_UP_FRONT = [
    ("mnist-dcgan", ["model.freeze=all_but_head"], "model.freeze", "must both train"),
    ("mnist-dcgan", ["train.fine_tune={epochs: 1}"], "train.fine_tune", "nothing frozen"),
    ("mnist-dnn", ["train.augment=[{name: random_crop, height: 20, width: 20}]"], "train.augment[0].height", "crops back"),
    ("pima-diabetes-dnn", ["data.exclude=[pregnancies, glucose, blood_pressure, skin_thickness, insulin, bmi, "
                           "diabetes_pedigree, age]"], "data.exclude", "no feature columns"),
    ("mnist-dnn", ["data.splits.train=train[50%:10%]"], "data.splits.train", "holds no examples"),
    ("mnist-dnn", ["data.splits.train=train[:0]"], "data.splits.train", "holds no examples"),
    ("mnist-dnn", ["data.splits.test=tset"], "data.splits.test", "Did you mean 'test'"),
    ("mnist-dnn", ["data.splits.validation=validation"], "data.splits.validation", "no split 'validation'"),
    ("mnist-dnn", ["train.optimizer={name: adam, clipnorm: 1, clipvalue: 1}"], "train.optimizer", "not both"),
    ("mnist-dnn", ["train.augment=[{name: random_zoom, height_factor: 5}]"], "train.augment[0].height_factor",
     "less than or equal to 1"),
    ("mnist-dnn", ["train.augment=[{name: mixup}]", "task.loss=sparse_categorical_crossentropy"], "task.loss",
     "soft targets"),
    ("mnist-dnn", ["task.loss=categorical_crossentropy"], "task.loss", "set task.labels: one_hot"),
    ("melbourne-temp-lstm", ["data.window=5000"], "data", "fewer than one window"),
    ("mnist-dnn", ["train.optimizer={name: adam, momentum: 0.9}"], "train.optimizer", "beta_1"),
    ("mnist-dnn", ["train.schedule={name: cosine_restarts, first_decay_epochs: 50}", "train.snapshots=true"],
     "train", "no snapshot would be taken"),
    # `make fuzz` found this one: a split's seed seeds NumPy, which refuses negative seeds.
    ("boston-housing-dnn", ["data.split.seed=-1"], "data.split.seed", "greater than or equal to 0"),
    ("melbourne-temp-lstm", ["data.column=Tmep"], "data.column", "Did you mean 'Temp'"),
]


@pytest.mark.parametrize("name, overrides, key, expected", REFUSED_UP_FRONT)
def test_validate_refuses_what_training_would(name, overrides, key, expected):
    with pytest.raises(RecipeError) as refused:
        load_recipe(name, overrides)
    message = str(refused.value)
    assert f"{key} (" in message and expected in message, message
