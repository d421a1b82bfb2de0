"""Data sources for files on disk: IDX arrays and time series (small files the tests write)."""

import gzip

import numpy as np
import pytest

from dlrecipes.data import get_source
from dlrecipes.errors import RecipeError
from dlrecipes.recipe import load_recipe, validate


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
    return get_source(recipe.data), images, labels


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
        get_source(source.options).train_signature()
    (tmp_path / "test-images").write_text("P5 not idx")
    with pytest.raises(RecipeError, match="not an IDX file"):
        get_source(source.options).load()
    source, _, _ = idx_data(tmp_path, classes=["a", "b"])
    with pytest.raises(RecipeError, match="names only 2 classes"):
        source.signature()


def test_mnist_idx_files_hold_the_tfds_test_images():
    """Same images as tfds' mnist test split (tfds stores them in another order)."""
    import tensorflow_datasets as tfds

    idx = get_source(load_recipe("mnist-idx-dnn").recipe.data).load()["test"]
    from_idx = sorted(int(x.sum()) for x, _ in idx.as_numpy_iterator())
    from_tfds = sorted(int(x.sum()) for x, _ in tfds.as_numpy(tfds.load("mnist", split="test", as_supervised=True)))
    assert from_idx == from_tfds


def series_source(tmp_path, values, **extra):
    lines = ["Date,Temp"] + [f"d{i},{v}" for i, v in enumerate(values)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    data = {"source": "timeseries", "path": str(tmp_path / "s.csv"), "column": "Temp", "window": 3, **extra}
    recipe = validate({"name": "t", "description": "t", "task": {"type": "regression"},
                       "data": data, "model": {"arch": "rnn"}}, source="test")
    return get_source(recipe.data)


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
