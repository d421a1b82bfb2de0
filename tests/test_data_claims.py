"""What the data sources promise about bad or unusual input, each checked on files the test
writes: a wrong cell, type or split is refused with where it is and how to fix it (exit 2),
and what a recipe asks of the data (its classes, its split sizes) is what training gets."""

import json

import numpy as np
import pytest
import yaml

from conftest import invoke
from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError
from dlrecipes.loader import validate

# mnist-0-vs-1 on small slices, for a training of seconds.
SMALL = ["--set", "data.splits.train=train[:4096]", "--set", "data.splits.validation=train[4096:5120]",
         "--set", "data.splits.test=test[:2000]"]


def recipe_file(tmp_path, task: str, data: dict, name="claim", **sections) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "description": "a test recipe", "task": {"type": task}, "data": data,
        "model": {"arch": "dnn", "hidden": [8]}, "train": {"epochs": 1, "batch_size": 16}, **sections,
    }))
    return str(path)


def source(task: str, data: dict):
    return source_of(validate({"name": "t", "description": "t", "task": {"type": task}, "data": data,
                               "model": {"arch": "dnn"}}, source="test"))


def refused(result, *parts: str) -> str:
    """The CLI's message, once it is known to be a clean refusal (exit 2) naming every part."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in result.stderr, f"{part!r} not in: {result.stderr}"
    return result.stderr


# -- 1. a CSV cell that is not a number ------------------------------------------------------


def write_numbers(path, rows=60, bad=None):
    """A table of 8 numeric columns and a binary label; `bad` = (row, column, text)."""
    rng = np.random.default_rng(0)
    columns = list("abcdefgh")
    lines = [",".join(columns + ["label"])]
    for i in range(rows):
        values = [f"{v:.3f}" for v in rng.normal(size=8)]
        if bad and bad[0] == i:
            values[columns.index(bad[1])] = bad[2]
        lines.append(",".join(values + [str(i % 2)]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("cell, shown", [("abc", "'abc'"), ("\x00", "'\\x00'"), ("nan", "'nan'")])
def test_a_csv_cell_that_is_not_a_number_is_refused_unless_the_column_is_categorical(tmp_path, cell, shown):
    table = write_numbers(tmp_path / "numbers.csv", bad=(5, "c", cell))  # row 5: line 7 of the file
    recipe = recipe_file(tmp_path, "binary", {"source": "csv", "path": str(table), "target": "label"})
    message = refused(invoke("validate", recipe), f"line 7 of {table}", "column 'c'", shown, "data.categorical")
    assert "136" not in message  # no 128-category column behind the user's back
    declared = source("binary", {"source": "csv", "path": str(table), "target": "label", "categorical": ["c"]})
    assert declared.signature().columns["c"] != "numeric"  # declared: its values are categories
    clean = source("binary", {"source": "csv", "path": str(write_numbers(tmp_path / "clean.csv")), "target": "label"})
    assert clean.signature().input_shape == (8,)


def test_a_csv_cell_over_the_field_size_limit_names_its_file_and_line(tmp_path):
    table = write_numbers(tmp_path / "huge.csv")
    lines = table.read_text().splitlines()
    lines[3] = lines[3].replace(",", ',"', 1)  # an opening quote never closed: the rest is one cell
    table.write_text("\n".join(lines + ["0," * 8 + "x" * 140_000]) + "\n")
    with pytest.raises(RecipeError, match=rf"line 4 of {table}: a cell is longer than the csv module's limit"):
        source("binary", {"source": "csv", "path": str(table), "target": "label"}).signature()
    recipe = recipe_file(tmp_path, "binary", {"source": "csv", "path": str(table), "target": "label"})
    refused(invoke("validate", recipe), "line 4", str(table), "quote")


# -- 2. a training split of one class ------------------------------------------------------


def test_a_training_split_of_one_class_is_refused_before_training(tmp_path):
    table = write_numbers(tmp_path / "all.csv")
    lines = table.read_text().splitlines()
    (tmp_path / "train.csv").write_text("\n".join([lines[0]] + [r for r in lines[1:] if r.endswith(",0")]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(lines[:21]) + "\n")  # both classes
    recipe = recipe_file(tmp_path, "binary", {"source": "csv", "path": str(tmp_path / "train.csv"),
                                              "test_path": str(tmp_path / "test.csv"), "target": "label"})
    runs = tmp_path / "runs"
    refused(invoke("train", recipe, "--runs-dir", str(runs)),
            "training split holds one class only", "are '0'", "no example of '1'", "train.csv")
    assert not runs.exists()  # refused before a run directory was made

    # tfds, where the split is a slice: the first two training images of mnist are a 4 and a 1.
    refused(invoke("train", "mnist-0-vs-1", "--set", "data.splits.train=train[:2]", "--runs-dir", str(runs)),
            "its 1 example is '1' (no example of '0')", "data.splits.train ('train[:2]')")
    assert not runs.exists()


# -- 3. IDX files of other types than unsigned bytes ---------------------------------------


def write_idx(path, array, code=0x08):
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0C: ">i4"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(dtype).tobytes())


def idx_recipe(tmp_path, image_code=0x08, label_code=0x08, n=40, **data):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 128, (n, 4, 4)), np.arange(n) % 4
    write_idx(tmp_path / "images.idx", images, image_code)
    write_idx(tmp_path / "labels", labels, label_code)
    files = {"images": "images.idx", "labels": "labels"}
    return {"source": "idx", "data_dir": str(tmp_path), "train": files, "test": files, **data}


def test_idx_files_must_hold_unsigned_bytes(tmp_path):
    data = idx_recipe(tmp_path, image_code=0x09)
    refused(invoke("validate", recipe_file(tmp_path, "multiclass", data)),
            str(tmp_path / "images.idx"), "IDX type 0x09 (int8)", "images must be unsigned bytes, type 0x08")
    with pytest.raises(RecipeError, match=r"IDX type 0x0C \(int32\); labels must be unsigned bytes"):
        source("multiclass", idx_recipe(tmp_path, label_code=0x0C)).signature()
    assert source("multiclass", idx_recipe(tmp_path)).signature().input_dtype == "uint8"


# -- 4. multi-hot labels in an npz ---------------------------------------------------------


def multi_hot_npz(path, n=160, rare=False):
    """Inputs whose signs are the labels: class k is on when x[k] > 0 (all 8 combinations)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, :3] > 0).astype("int64")
    if rare:  # a fourth class, on for two rows only: those combinations cannot reach every split
        y = np.concatenate([y, (np.arange(n) < 2)[:, None].astype("int64")], axis=1)
    np.savez(path, features=x, target=y)
    return {"source": "npz", "path": str(path), "train": {"inputs": "features", "labels": "target"}, "test": None}


def test_multi_hot_npz_labels_are_split_stratified_and_train_a_multilabel_task(tmp_path):
    data = multi_hot_npz(tmp_path / "tags.npz")
    tags = source("multilabel", data)
    signature = tags.train_signature()
    assert signature.labels == "multi_hot" and signature.num_outputs == 3 and signature.class_names == ("0", "1", "2")
    assert signature.split_sizes == {"train": 112, "validation": 16, "test": 32} and tags.notes == []
    test_combinations = {tuple(y) for _, y in tags.load()["test"].as_numpy_iterator()}
    assert len(test_combinations) == 8  # stratified: every combination reaches the test split

    picked = source("multilabel", {**data, "classes": ["2", "0"]})
    assert picked.signature().class_names == ("2", "0")
    x, y = next(picked.load()["train"].as_numpy_iterator())
    assert list(y) == [int(x[2] > 0), int(x[0] > 0)]  # the chosen columns, in the chosen order

    rare = source("multilabel", multi_hot_npz(tmp_path / "rare.npz", rare=True))
    assert sum(rare.train_signature().split_sizes.values()) == 160  # no IndexError, every row placed
    assert "not stratified" in rare.notes[0]

    runs = tmp_path / "runs"
    trained = invoke("train", recipe_file(tmp_path, "multilabel", data, train={"epochs": 2, "batch_size": 16}),
                     "--runs-dir", str(runs))
    assert trained.returncode == 0, trained.stderr
    (run,) = list(runs.iterdir())
    assert {"accuracy", "auc"} <= set(json.loads((run / "metrics.json").read_text())["test"])
    assert json.loads((run / "signature.json").read_text())["labels"] == "multi_hot"


def test_a_multilabel_task_on_class_ids_is_refused(tmp_path):
    np.savez(tmp_path / "ids.npz", x_train=np.zeros((30, 4), "float32"), y_train=np.arange(30) % 3,
             x_test=np.zeros((6, 4), "float32"), y_test=np.arange(6) % 3)
    assert source("multilabel", {"source": "npz", "path": str(tmp_path / "ids.npz")}).signature().labels == "class_ids"
    refused(invoke("validate", recipe_file(tmp_path, "multilabel", {"source": "npz", "path": str(tmp_path / "ids.npz")})),
            "task.type", "multi-hot", "one class id per example")
    refused(invoke("validate", "mnist-dnn", "--set", "task.type=multilabel", "--set", "target=null"), "multi-hot")


# -- 5. the split sizes a training records -------------------------------------------------


def test_the_signature_training_uses_has_the_sizes_of_the_splits_it_reads():
    from dlrecipes.loader import load_recipe
    from dlrecipes.train.inputs import prepare_data

    recipe = load_recipe("mnist-dnn").recipe  # train[:90%] / train[90%:] / test
    assert prepare_data(recipe).signature.split_sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert source_of(recipe).signature().split_sizes == {"train": 60_000, "test": 10_000}  # the dataset's own


# -- 6. data.classes: one meaning in every source -----------------------------------------


def test_tfds_classes_are_matched_against_the_dataset_names(tmp_path):
    from dlrecipes.loader import load_recipe

    recipe = load_recipe("fashion-mnist-cnn", ["data.classes=['Trouser', 'T-shirt/top']", "data.splits.train=train[:500]",
                                               "data.splits.test=test[:100]"]).recipe
    signature = source_of(recipe).train_signature()
    assert signature.num_outputs == 2 and signature.class_names == ("Trouser", "T-shirt/top")
    datasets = source_of(recipe).load()
    labels = [int(y) for _, y in datasets["test"].as_numpy_iterator()]
    assert set(labels) == {0, 1} and len(labels) == int(datasets["test"].cardinality()) == signature.split_sizes["test"]
    refused(invoke("validate", "fashion-mnist-cnn", "--set", "data.classes=['Trousers', 'Bag']"),
            "'Trousers' is not a class of tfds dataset 'fashion_mnist'", "Did you mean 'Trouser'?", "'Ankle boot'")


def test_every_source_keeps_the_classes_named_in_that_order(tmp_path):
    import tensorflow as tf

    # idx: labels 0..3, 10 of each in 40 rows; keep '2' (now id 0) and '0' (now id 1).
    idx = source("multiclass", idx_recipe(tmp_path, validation=0.25, classes=["2", "0"]))
    assert idx.signature().class_names == ("2", "0")
    assert idx.signature().split_sizes == {"train": 16, "validation": 4, "test": 20}
    first = next(idx.load()["test"].as_numpy_iterator())
    assert first[1] == 1  # row 0 has label 0, which is class '0', now id 1
    with pytest.raises(RecipeError, match="does not rename them"):
        source("multiclass", idx_recipe(tmp_path, classes=["cat", "dog"])).signature()

    # npz: class ids 0..4
    x, y = np.arange(100, dtype="float32")[:, None], np.arange(100) % 5
    np.savez(tmp_path / "ids.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    npz = source("multiclass", {"source": "npz", "path": str(tmp_path / "ids.npz"), "classes": ["4", "1"]})
    assert npz.signature().num_outputs == 2 and npz.signature().split_sizes == {"train": 36, "validation": 4, "test": 8}
    assert {(int(x[0]) % 5, int(y)) for x, y in npz.load()["train"].as_numpy_iterator()} == {(4, 0), (1, 1)}

    # csv: target values a, b, c; keep c and a
    rows = [f"{i},{'abc'[i % 3]}" for i in range(90)]
    (tmp_path / "t.csv").write_text("\n".join(["v,kind"] + rows) + "\n")
    table = {"source": "csv", "path": str(tmp_path / "t.csv"), "target": "kind"}
    csv = source("multiclass", {**table, "classes": ["c", "a"]})
    assert csv.signature().class_names == ("c", "a") and sum(csv.signature().split_sizes.values()) == 60
    with pytest.raises(RecipeError, match="(?s)'d' is not a class of the target column 'kind'.*its classes: 'a', 'b', 'c'"):
        source("multiclass", {**table, "classes": ["a", "d"]}).signature()

    # text: spam first, the lines labelled 'eggs' left out
    lines = [f"{label}\tmessage {i}" for i, label in enumerate(["ham", "spam", "eggs"] * 20)]
    (tmp_path / "m.tsv").write_text("\n".join(lines) + "\n")
    text = source("binary", {"source": "text", "path": str(tmp_path / "m.tsv"), "classes": ["spam", "ham"]})
    assert text.signature().class_names == ("spam", "ham") and sum(text.signature().split_sizes.values()) == 40
    assert all((int(t.split()[-1]) % 3 == 1) == (y == 0) for t, y in text.load()["train"].as_numpy_iterator())

    # image folders: owls and cats; the dogs folder is not read
    for name, shade in (("cats", 0), ("dogs", 100), ("owls", 200)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(5):
            image = np.full((6, 6, 3), shade, np.uint8)
            (tmp_path / "photos" / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    (tmp_path / "photos" / "dogs" / "0.png").write_bytes(b"not read, so not a problem")
    folders = source("multiclass", {"source": "image_folder", "path": str(tmp_path / "photos"), "image_size": [6, 6],
                                    "classes": ["owls", "cats"], "split": {"validation": 0.0, "test": 0.2}})
    signature = folders.train_signature()
    assert signature.class_names == ("owls", "cats") and signature.split_sizes == {"train": 8, "test": 2}
    assert {(int(x[0, 0, 0]), int(y)) for x, y in folders.load()["train"].as_numpy_iterator()} == {(200, 0), (0, 1)}


# -- 7. the mnist-0-vs-1 recipe --------------------------------------------------------------


def test_mnist_0_vs_1_trains_on_the_two_digits_and_records_their_split_sizes(tmp_path):
    assert invoke("validate", "mnist-0-vs-1").returncode == 0
    runs = tmp_path / "runs"
    trained = invoke("train", "mnist-0-vs-1", "--epochs", "1", *SMALL, "--runs-dir", str(runs))
    assert trained.returncode == 0, trained.stderr
    (run,) = list(runs.iterdir())
    signature = json.loads((run / "signature.json").read_text())
    assert signature["class_names"] == ["0", "1"] and signature["num_outputs"] == 2
    # The 0s and 1s among mnist's train[:4096], train[4096:5120] and test[:2000] (tfds order).
    assert signature["split_sizes"] == {"train": 863, "validation": 208, "test": 422}
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.95
