"""The command line as a user meets it: fast commands, clear errors, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, cli

NO_TF = """
import sys
from dlrecipes.cli import app
try:
    app({args!r}, standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in ("tensorflow", "tensorflow_datasets") if m in sys.modules)
print("IMPORTED:" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["list"], ["describe", "mnist-dnn"], ["describe", "sms-spam-lstm"],
     ["validate", "mnist-cnn"], ["schema"], ["runs"]],
)
def test_light_commands_never_import_tensorflow(args):
    assert_no_tensorflow(args)


def assert_no_tensorflow(args, env=None):
    result = subprocess.run(
        [sys.executable, "-c", NO_TF.format(args=args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "IMPORTED:", result.stdout


@pytest.mark.parametrize("args", [["list"], ["describe", "mnist-cnn"], ["describe", "fashion-mnist-cnn"]])
def test_light_commands_stay_light_before_any_data_is_downloaded(args, tmp_path):
    """A fresh machine: no prepared tfds data and an empty summary cache."""
    assert_no_tensorflow(args, {**os.environ, "TFDS_DATA_DIR": str(tmp_path / "tfds"), "XDG_CACHE_HOME": str(tmp_path / "cache")})


def test_list_json_has_every_recipe_with_its_parameter_count():
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["mnist-dnn"]["params"] == 235_146
    assert rows["mnist-dnn"]["task"] == "multiclass"
    assert rows["mnist-cnn"]["architecture"] == "cnn"
    assert rows["fashion-mnist-cnn"]["dataset"] == "fashion_mnist"
    assert rows["fashion-mnist-cnn"]["source"] == "tfds"


def test_describe_shows_the_layer_table_and_resolved_recipe():
    result = cli("describe", "mnist-dnn", "--set", "model.hidden=[64]")
    assert result.returncode == 0, result.stderr
    assert "head_softmax" in result.stdout and "dense_1" in result.stdout
    assert "50,890" in result.stdout  # 784*64+64 + 64*10+10
    assert "learning_rate: 0.001" in result.stdout


def test_describe_opens_a_gans_two_networks():
    result = cli("describe", "mnist-dcgan", "--json")
    assert result.returncode == 0, result.stderr
    names = [layer["name"] for layer in json.loads(result.stdout)["model"]["layers"]]
    assert names[0] == "generator/project" and "discriminator/down1" in names
    assert names[-1] == "discriminator/head_sigmoid"


def test_schema_is_json_schema():
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert schema["type"] == "object" and "model" in schema["properties"]


def test_validate_reports_a_bad_recipe_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\ntask: {type: multiclass}\ndata: {source: tfds, name: mnist}\nmodel: {arch: dnn}\ntrian: {}\n")
    result = cli("validate", "mnist-dnn", str(bad))
    assert result.returncode == 2
    assert "ok" in result.stdout and "mnist-dnn.yaml" in result.stdout
    assert "unknown key 'trian'" in result.stderr and "Did you mean 'train'?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "no-such-recipe"], "no recipe named"),
        (["train", "mnist-dnn", "--set", "train.epocs=2"], "Did you mean 'epochs'?"),
        (["train", "mnist-dnn", "--set", "task.loss=binary_crossentropy"], "softmax"),
        (["train", "missing/recipe.yaml"], "no recipe file"),
        (["evaluate", "no-such-run"], "no run 'no-such-run'"),
        (["export", "no-such-run"], "no run 'no-such-run'"),
    ],
)
def test_bad_input_is_one_message_exit_2_and_leaves_no_run(tmp_path, args, message):
    result = cli(*args, "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_wrong_dataset_name_suggests_the_closest(tmp_path):
    result = cli("train", "mnist-dnn", "--set", "data.name=mnsit", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert "no dataset named 'mnsit'" in result.stderr and "Did you mean 'mnist'?" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_invalid_split_names_the_key(tmp_path):
    result = cli("train", "mnist-dnn", "--set", "data.splits.test=tset", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert "data.splits.test" in result.stderr and "train, test" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_offline_fails_fast_with_how_to_supply_it(tmp_path):
    empty = tmp_path / "tfds"
    empty.mkdir()
    result = cli("train", "mnist-dnn", "--data-dir", str(empty), "--runs-dir", str(tmp_path / "runs"), timeout=60)
    assert result.returncode == 3, result.stderr
    assert "'mnist' is not prepared" in result.stderr and str(empty) in result.stderr
    assert "tfds build mnist" in result.stderr and "TFDS_DATA_DIR" in result.stderr
    assert not (tmp_path / "runs").exists()
    assert list(empty.iterdir()) == []  # nothing half-downloaded


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("dlrecipes ")
