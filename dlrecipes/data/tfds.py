"""TensorFlow Datasets (tfds) as a data source.

Where the data lives, first match wins: `data.data_dir` in the recipe (or `--data-dir`),
the `TFDS_DATA_DIR` environment variable, tfds' default `~/tensorflow_datasets`.

tfds downloads a dataset that is not prepared, but offline its downloader retries for
minutes before failing. So before loading we check `builder.is_prepared()` and, when the
data is missing and the network is not reachable, fail at once with a message that says
how to supply the data.

`classes` keeps some of the dataset's classes (matched against its class names: '0'..'9'
for mnist, 'T-shirt/top', ... for fashion_mnist), in its order. The metadata does not say
how many examples of each class a split holds, so their labels are counted once - without
decoding the images - and the filtered splits keep a known size for counting epochs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat

from dlrecipes.data.pipeline import scaled, scaling_layer, scaling_notes
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import CLASSES_HELP, ClassSelection, Folds, check_training_classes, select_classes
from dlrecipes.errors import DataUnavailableError, RecipeError, did_you_mean
from dlrecipes.schema import Section

# Metadata of well-known datasets, for `describe` and `list` when the data is not on this
# machine yet (reading it from tfds would import TensorFlow). Training always uses the
# metadata tfds itself reports.
KNOWN = {
    "mnist": Signature((28, 28, 1), "uint8", 10, tuple("0123456789"), {"train": 60_000, "test": 10_000}),
    "fashion_mnist": Signature(
        (28, 28, 1), "uint8", 10,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        {"train": 60_000, "test": 10_000},
    ),
    "cifar10": Signature(
        (32, 32, 3), "uint8", 10,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        {"train": 50_000, "test": 10_000},
    ),
    "cifar100": Signature((32, 32, 3), "uint8", 100, None, {"train": 50_000, "test": 10_000}),
    "imdb_reviews": Signature((), "string", 2, ("neg", "pos"), {"train": 25_000, "test": 25_000, "unsupervised": 50_000}),
}

# Where tfds fetches most datasets from; reaching it is our test for "online".
PROBE_ADDRESS = ("storage.googleapis.com", 443)
PROBE_TIMEOUT_S = 3.0


class Splits(Section):
    train: str = Field("train", description="tfds split expression, e.g. 'train[:90%]'.")
    validation: str | None = Field(
        None, description="Split watched during training; none when omitted."
    )
    test: str = Field("test", description="Split reported by `evaluate` and in metrics.json.")


class TfdsOptions(Section):
    source: Literal["tfds"]
    name: str = Field(
        ..., pattern=r"^[a-z0-9_]+(/[a-z0-9_.]+)?$", description="tfds dataset name, e.g. mnist."
    )
    version: str | None = Field(
        None, pattern=r"^\d+\.\d+\.\d+$", description="Dataset version; tfds' current one when omitted."
    )
    data_dir: str | None = Field(
        None, description="Folder of prepared tfds data; TFDS_DATA_DIR or ~/tensorflow_datasets when omitted."
    )
    splits: Splits = Splits()
    classes: list[str] | None = Field(None, description=f"The dataset's class names. {CLASSES_HELP}")
    divide_by: PositiveFloat | None = Field(
        None, description="Inputs are divided by this (255 maps pixels to [0, 1]), in training and in exports."
    )
    folds: Folds | None = Field(None, description="Not for tfds data, which comes as fixed splits (see `validate`).")


def default_data_dir() -> Path:
    return Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def network_reachable(address: tuple[str, int] | None = None) -> bool:
    """Whether a TCP connection to the download host opens within a few seconds."""
    if os.environ.get("DLRECIPES_OFFLINE"):
        return False
    try:
        with socket.create_connection(address or PROBE_ADDRESS, timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


@register_source("tfds", TfdsOptions)
class TfdsSource:
    def __init__(self, options: TfdsOptions, task):
        self.options = options
        self.task = task
        self.data_dir = Path(options.data_dir).expanduser() if options.data_dir else default_data_dir()
        self._counts: dict = {}  # role -> examples per class id, counted once

    def splits(self) -> tuple[str, ...]:
        return tuple(role for role, split in self.options.splits.model_dump().items() if split)

    def why_no_folds(self) -> str | None:
        return (f"tfds dataset '{self.options.name}' comes as fixed splits (data.splits), streamed from its files, "
                "not as examples held in memory that could be dealt into folds: cross-validate data saved as "
                "npz, csv, idx, text or an image folder")

    @property
    def full_name(self) -> str:
        o = self.options
        return f"{o.name}:{o.version}" if o.version else o.name

    # -- metadata -------------------------------------------------------------------------

    def signature(self) -> Signature:
        """Read from the prepared data's JSON when present; else ask tfds (imports TF)."""
        prepared = self._prepared_dir()
        if prepared is not None:
            signature = _signature_from_json(prepared)
        elif self.options.name in KNOWN:
            signature = KNOWN[self.options.name]
        else:
            signature = _signature_from_info(self._builder().info)
        self._check_splits(signature.split_sizes)
        return self._selected(signature)

    def _check_splits(self, sizes: dict[str, int]) -> None:
        """Each split the recipe asks for names a split of the dataset and holds examples,
        from the split sizes in the metadata (tfds would only say so when loading)."""
        for role, spec in self.options.splits.model_dump().items():
            if spec is None or not sizes:
                continue
            count = examples_in(spec, sizes, where=f"data.splits.{role}", dataset=self.options.name)
            if count == 0:
                raise RecipeError(f"split '{spec}' of dataset '{self.options.name}' holds no examples.",
                                  where=f"data.splits.{role}",
                                  fix="check the slice's bounds, e.g. train[:90%] and train[90%:]")

    def _selected(self, signature: Signature) -> Signature:
        """The signature of the classes data.classes keeps. How many examples of them each
        split holds is not in the metadata: `train_signature` counts them."""
        if self.options.classes is None:
            return signature
        names = self._selection(signature).names
        return dataclasses.replace(signature, num_outputs=len(names), class_names=names, split_sizes={})

    def _selection(self, signature: Signature) -> ClassSelection:
        if signature.labels != "class_ids":
            raise RecipeError(f"data.classes picks classes, and the labels of tfds dataset '{self.options.name}' "
                              "are values, not classes.", where="data.classes", fix="remove data.classes")
        names = signature.class_names or tuple(str(i) for i in range(signature.num_outputs))
        return select_classes(names, self.options.classes, of=f"tfds dataset '{self.options.name}'")

    def is_local(self) -> bool:
        """Whether the prepared data is on this machine (nothing to download)."""
        return self._prepared_dir() is not None

    def _prepared_dir(self) -> Path | None:
        root = self.data_dir / self.options.name
        if self.options.version:
            candidates = [root / self.options.version]
        else:
            candidates = sorted(
                (p for p in root.glob("*.*.*") if p.is_dir()),
                key=lambda p: tuple(int(n) for n in p.name.split(".") if n.isdigit()),
                reverse=True,
            )
        for path in candidates:
            if (path / "features.json").is_file() and (path / "dataset_info.json").is_file():
                return path
        return None

    # -- loading --------------------------------------------------------------------------

    def _builder(self):
        import tensorflow_datasets as tfds

        try:
            return tfds.builder(self.full_name, data_dir=str(self.data_dir))
        except tfds.core.registered.DatasetNotFoundError:
            names = tfds.list_builders()
            raise RecipeError(
                f"tfds has no dataset named '{self.options.name}'.{did_you_mean(self.options.name, names)}",
                where="data.name",
                fix="use a name from https://www.tensorflow.org/datasets/catalog (e.g. mnist, fashion_mnist, cifar10)",
            ) from None

    def ensure_available(self):
        """The tfds builder, with its data prepared; fails fast when it cannot be."""
        builder = self._builder()
        if builder.is_prepared():
            return builder
        if not network_reachable():
            expected = self.data_dir / self.options.name / str(builder.info.version)
            raise DataUnavailableError(
                f"dataset '{self.full_name}' is not prepared in {self.data_dir} "
                f"(looked for {expected}) and cannot be downloaded: no network.",
                where="data.name / data.data_dir / --data-dir / TFDS_DATA_DIR",
                fix=(
                    f"on a machine with internet run `tfds build {self.options.name} --data_dir DIR` "
                    "(or train this recipe there once), copy DIR here, then pass --data-dir DIR "
                    "or set TFDS_DATA_DIR=DIR"
                ),
            )
        builder.download_and_prepare()
        return builder

    def load(self) -> dict:
        """The recipe's splits as unbatched (inputs, label) datasets in their raw dtype."""
        import tensorflow as tf

        datasets = {}
        for role in self.splits():
            ds = self._as_dataset(role, as_supervised=True, shuffle_files=False)
            if self.options.classes is not None:
                # Filtering forgets the size; the pipeline counts epochs by it.
                size = int(self._kept_counts(role).sum())
                ds = self._class_selection.relabel_dataset(ds).apply(tf.data.experimental.assert_cardinality(size))
            datasets[role] = ds
        return datasets

    def train_signature(self) -> Signature:
        """The signature from tfds itself, once the data is available (used for training).

        A classifier's training split is counted, to refuse one that holds a single class;
        with data.classes every split is counted, for its size after filtering.
        """
        full = _signature_from_info(self._available.info)
        signature = self._selected(full)
        if full.labels != "class_ids":
            return signature
        if self.task.one_label_per_example:
            check_training_classes(
                self.task, self._kept_counts("train"), signature.class_names,
                where=f"data.splits.train ('{self.options.splits.train}')",
                fix="train on a split with examples of every class (a wider slice, e.g. 'train[:90%]')",
            )
        if self.options.classes is not None:
            sizes = {role: int(self._kept_counts(role).sum()) for role in self.splits()}
            signature = dataclasses.replace(signature, split_sizes=sizes)
        return signature

    # -- counting -------------------------------------------------------------------------

    @cached_property
    def _available(self):
        return self.ensure_available()

    @cached_property
    def _class_selection(self) -> ClassSelection:
        return self._selection(_signature_from_info(self._available.info))

    def _as_dataset(self, role: str, **options):
        split = getattr(self.options.splits, role)
        builder = self._available
        try:
            return builder.as_dataset(split=split, **options)
        except (ValueError, KeyError) as err:
            available = ", ".join(builder.info.splits)
            raise RecipeError(
                f"split '{split}' is not valid for dataset '{self.options.name}': {err}",
                where=f"data.splits.{role}",
                fix=f"use one of the dataset's splits ({available}), optionally sliced like 'train[:90%]'",
            ) from None

    def _kept_counts(self, role: str):
        """Examples of each kept class in the role's split, in data.classes order."""
        return self._label_counts(role)[list(self._class_selection.source_ids)]

    def _label_counts(self, role: str):
        """Examples per class id in the role's split, read from the labels alone: the inputs
        are left encoded (`SkipDecoding`). Counting 54,000 MNIST labels still takes about two
        seconds, a sixth of a short training, so the counts are kept on disk, keyed by the
        prepared data's folder, its metadata file and the split (`_counts_cache`)."""
        if role not in self._counts:
            import numpy as np

            cache = _counts_cache(self._available.data_dir, getattr(self.options.splits, role))
            try:
                self._counts[role] = np.asarray(json.loads(cache.read_text()), dtype="int64")
                return self._counts[role]
            except (OSError, ValueError):
                pass  # not counted yet, or a damaged entry: count again
            import tensorflow_datasets as tfds

            input_key, label_key = self._available.info.supervised_keys
            total = self._available.info.features[label_key].num_classes
            ds = self._as_dataset(role, decoders={input_key: tfds.decode.SkipDecoding()}, shuffle_files=False)
            counts = np.zeros(total, dtype="int64")
            for labels in ds.map(lambda example: example[label_key]).batch(8192).as_numpy_iterator():
                counts += np.bincount(labels, minlength=total)
            self._counts[role] = counts
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(counts.tolist()))
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only home only costs the two seconds next time
        return self._counts[role]

    def preprocess(self, x):
        import tensorflow as tf

        if x.dtype == tf.string:
            return x  # text goes to the model's TextVectorization as it is
        return scaled(x, self.options.divide_by)

    def keras_preprocess(self, inputs):
        if self.signature().input_dtype == "string":
            return inputs
        return scaling_layer(self.options.divide_by)(inputs)

    def preprocessing_notes(self) -> list[str]:
        return [] if self.signature().input_dtype == "string" else scaling_notes(self.options.divide_by)


def _counts_cache(data_dir, split: str) -> Path:
    """Where a split's label counts are kept: prepared tfds data never changes in place, and
    the metadata file's size and time change with any re-preparation."""
    import hashlib

    info = Path(data_dir) / "dataset_info.json"
    try:
        stat = info.stat()
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        stamp = "?"
    key = hashlib.sha256(f"{os.path.abspath(data_dir)}|{stamp}|{split}".encode()).hexdigest()
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dlrecipes" / "label-counts" / f"{key}.json"


# tfds' split strings: NAME, NAME[start:end] with counts or percentages, joined by '+'.
_SLICE = re.compile(r"^\s*([\w-]+)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


def examples_in(spec: str, sizes: dict[str, int], *, where: str, dataset: str) -> int | None:
    """How many examples a tfds split string selects, from the splits' sizes; None for the
    rarer forms of tfds' grammar (shards, rounding options), which tfds checks itself."""
    total = 0
    for part in spec.split("+"):
        match = _SLICE.match(part)
        if match is None:
            return None
        name, start, end = match.groups()
        if name not in sizes:
            raise RecipeError(
                f"dataset '{dataset}' has no split '{name}'.{did_you_mean(name, sizes)}",
                where=where, fix=f"use one of its splits ({', '.join(sizes)}), optionally sliced like 'train[:90%]'",
            )
        n = sizes[name]

        def position(bound: str | None, default: int) -> int:
            if bound is None:
                return default
            value = int(bound.rstrip("%"))
            value = round(value * n / 100) if bound.endswith("%") else value
            return max(0, min(n, value + n if value < 0 else value))

        total += max(0, position(end, n) - position(start, 0))
    return total


def _signature_from_info(info) -> Signature:
    input_key, target_key = info.supervised_keys
    feature, target = info.features[input_key], info.features[target_key]
    names = tuple(getattr(target, "names", None) or ()) or None
    num_outputs = getattr(target, "num_classes", None) or int(max(1, _size(target.shape)))
    return Signature(
        input_shape=tuple(int(d) if d is not None else None for d in feature.shape),
        input_dtype=feature.tf_dtype.name,  # tf names: 'uint8', 'string'; numpy calls text 'object'
        num_outputs=int(num_outputs),
        class_names=names,
        split_sizes={name: split.num_examples for name, split in info.splits.items()},
        labels="class_ids" if getattr(target, "num_classes", None) else "values",
    )


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _signature_from_json(path: Path) -> Signature:
    """Parse the features.json / dataset_info.json that tfds writes next to the records."""
    info = json.loads((path / "dataset_info.json").read_text())
    features = json.loads((path / "features.json").read_text())["featuresDict"]["features"]
    input_key, target_key = (item["featureKey"] for item in info["supervisedKeys"]["tuple"]["items"])

    spec = features[input_key]
    body = spec.get("image") or spec.get("tensor")
    if "text" in spec:
        body = {"shape": {"dimensions": []}, "dtype": "string"}
    if body is None:
        raise RecipeError(f"unsupported tfds feature type for '{input_key}' in {path / 'features.json'}")
    shape = tuple(int(d) if int(d) >= 0 else None for d in body["shape"]["dimensions"])

    target = features[target_key]
    if "classLabel" in target:
        num_outputs = int(target["classLabel"]["numClasses"])
        labels_file = path / f"{target_key}.labels.txt"
        if labels_file.is_file():
            names = tuple(n for n in labels_file.read_text().split("\n") if n)
        else:  # tfds names unnamed classes by their index
            names = tuple(str(i) for i in range(num_outputs))
    else:
        dims = target.get("tensor", {}).get("shape", {}).get("dimensions", [])
        num_outputs, names = max(1, _size(int(d) for d in dims)), None
    sizes = {s["name"]: sum(int(n) for n in s.get("shardLengths", [])) for s in info.get("splits", [])}
    return Signature(
        input_shape=shape,
        input_dtype=body.get("dtype", "float32"),
        num_outputs=num_outputs,
        class_names=names,
        split_sizes=sizes,
        labels="class_ids" if "classLabel" in target else "values",
    )
