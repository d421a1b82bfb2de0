"""Recipe schema: every mistake is one message naming the file, key, value and fix."""

from pathlib import Path

import pytest

from dlrecipes.errors import RecipeError
from dlrecipes.recipe import json_schema
from dlrecipes.loader import all_recipes, load_recipe

GOOD = """\
description: test recipe
task:
  type: multiclass
data:
  source: tfds
  name: mnist
  divide_by: 255
model:
  arch: dnn
  hidden: [32]
train:
  epochs: 1
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error_of(ref: str, overrides=()) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(ref, list(overrides))
    return str(info.value)


def test_every_shipped_recipe_validates():
    recipes = all_recipes()
    assert {"mnist-dnn", "mnist-cnn", "fashion-mnist-cnn"} <= set(recipes)
    for name in recipes:
        loaded = load_recipe(name)
        assert loaded.recipe.name == name
        # A GAN has no test-split number; bench/gan.py judges its pictures.
        assert loaded.recipe.target is not None or loaded.recipe.task.type == "adversarial", f"{name} states no target"


def test_name_defaults_to_file_stem(tmp_path):
    assert load_recipe(write(tmp_path, GOOD, "my-net.yaml")).recipe.name == "my-net"


def test_unknown_key_names_file_line_and_closest_key(tmp_path):
    path = write(tmp_path, GOOD.replace("  epochs: 1", "  epocs: 1"))
    message = error_of(path)
    assert path in message
    assert "train.epocs (line 12)" in message
    assert "Did you mean 'epochs'?" in message


def test_unknown_architecture_option_lists_the_builders_options(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("hidden: [32]", "hiden: [32]")))
    assert "model.hiden" in message and "Did you mean 'hidden'?" in message
    assert "dropout" in message  # the allowed keys of the dnn builder


def test_wrong_type_and_range_show_the_given_value(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("epochs: 1", "epochs: many")))
    assert "train.epochs" in message and "'many'" in message
    message = error_of(write(tmp_path, GOOD.replace("epochs: 1", "epochs: 0")))
    assert "greater than or equal to 1" in message and "given: 0" in message


def test_unknown_architecture_suggests_a_registered_one(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("arch: dnn", "arch: dnnn")))
    assert "model.arch" in message and "Did you mean 'dnn'?" in message and "cnn" in message


def test_head_contradiction_is_refused_with_the_right_pairing(tmp_path):
    text = GOOD.replace("type: multiclass", "type: multiclass\n  activation: sigmoid")
    message = error_of(write(tmp_path, text))
    assert "task.activation" in message and "softmax" in message


def test_all_problems_are_reported_together(tmp_path):
    text = GOOD.replace("epochs: 1", "epochs: 0").replace("arch: dnn", "arch: dnn\n  api: seq")
    message = error_of(write(tmp_path, text))
    assert "2 problems" in message and "model.api" in message and "train.epochs" in message


def test_overrides_are_typed_and_validated():
    recipe = load_recipe("mnist-dnn", ["train.epochs=3", "model.hidden=[64, 32]"]).recipe
    assert recipe.train.epochs == 3 and recipe.model.hidden == [64, 32]
    message = error_of("mnist-dnn", ["train.epocs=3"])
    assert "--set train.epocs=3" in message and "Did you mean 'epochs'?" in message


def test_malformed_override_and_override_into_a_value():
    assert "KEY.PATH=VALUE" in error_of("mnist-dnn", ["train.epochs"])
    assert "is a value, not a section" in error_of("mnist-dnn", ["train.epochs.max=3"])


def test_yaml_syntax_error_gives_line(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("hidden: [32]", "hidden: [32")))
    assert "not valid YAML" in message and "line" in message


def test_non_mapping_recipe(tmp_path):
    assert "YAML mapping" in error_of(write(tmp_path, "- just\n- a list\n"))


def test_missing_file_and_unknown_name():
    assert "no recipe file" in error_of("does/not/exist.yaml")
    assert "Did you mean 'mnist-dnn'?" in error_of("mnist-dn")


def test_local_recipes_dir_shadows_builtin(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    write(tmp_path / "recipes", GOOD.replace("test recipe", "local copy"), "mnist-dnn.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_recipe("mnist-dnn").recipe.description == "local copy"


def test_json_schema_covers_sections_and_builder_options():
    schema = json_schema()
    assert {"task", "data", "model", "train"} <= set(schema["properties"])
    defs = schema["$defs"]
    assert "hidden" in defs["DNNOptions"]["properties"]
    assert "blocks" in defs["CNNOptions"]["properties"]
    assert defs["DNNOptions"]["additionalProperties"] is False
