"""Labelled text in a delimited file, one example per line: `label<TAB>text` and the like.

The text reaches the model as raw strings: the model's own `TextVectorization` layer turns
them into token ids (adapted on the training split only), so an exported model takes
strings too. Nothing here escapes or unquotes: a line is split at the first delimiter
(the last when the label comes second), because messages may contain stray quotes and
delimiters of their own (the SMS Spam Collection has both).

The classes are the labels found (sorted), or the sub-folders' names for a folder of text
files; `classes` keeps some of them, in its order, and leaves the other lines out.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import CLASSES_HELP, FractionSplits, check_training_classes, select_classes, split_indices
from dlrecipes.errors import RecipeError
from dlrecipes.schema import Section


class TextOptions(Section):
    source: Literal["text"]
    path: str = Field(..., description="A delimited file, or a folder with one sub-folder of text files per class; relative paths are found under data_dir, DLRECIPES_DATA_DIR or '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    delimiter: str = Field("\t", min_length=1, description="Separates the label from the text.")
    label_first: bool = Field(True, description="Lines read `label<delimiter>text` (false: `text<delimiter>label`).")
    header: bool = Field(False, description="Skip the first line.")
    classes: list[str] | None = Field(
        None, min_length=2,
        description=f"Labels (or sub-folder names); binary: negative first. {CLASSES_HELP}",
    )
    split: FractionSplits = FractionSplits()


@register_source("text", TextOptions)
class TextSource:
    def __init__(self, options: TextOptions, task):
        self.options = options
        self.task = task

    def splits(self) -> tuple[str, ...]:
        return ("train", "validation", "test") if self.options.split.has_validation else ("train", "test")

    def why_no_folds(self) -> str | None:
        return None  # every example is in memory: folds are rows of the training data

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        """From the recipe's `classes` alone when the file is absent (`describe` anywhere)."""
        if self.options.classes and not self.is_local():
            return Signature((), "string", len(self.options.classes), tuple(self.options.classes))
        return self.train_signature()

    def train_signature(self) -> Signature:
        import numpy as np

        texts, labels, classes = self._rows
        sizes = {role: len(rows) for role, rows in self._indices.items()}
        train = np.asarray(labels, dtype="int64")[self._indices["train"]]
        check_training_classes(self.task, np.bincount(train, minlength=len(classes)), classes,
                               where=f"{self._path} (data.path, data.split)",
                               fix="give the file lines of every class (and keep data.split.stratify on)")
        return Signature((), "string", len(classes), tuple(classes), sizes)

    def load(self) -> dict:
        import numpy as np
        import tensorflow as tf

        texts, labels, _ = self._rows
        texts, labels = np.array(texts, dtype=object), np.array(labels, dtype=np.int64)
        return {
            role: tf.data.Dataset.from_tensor_slices((texts[rows], labels[rows]))
            for role, rows in self._indices.items()
        }

    def preprocess(self, x):
        return x  # strings go to the model's TextVectorization as they are

    def keras_preprocess(self, inputs):
        return inputs

    # -- reading --------------------------------------------------------------------------

    @cached_property
    def _path(self):
        return find_file(
            self.options.path, self.options.data_dir,
            get_it="or give data.path as an absolute path",
        )

    @cached_property
    def _rows(self) -> tuple[list[str], list[int], list[str]]:
        o = self.options
        pairs = []
        if self._path.is_dir():
            return self._folder_rows()
        try:
            with open(self._path, encoding="utf-8-sig", newline="") as f:  # -sig: a byte-order mark is no label
                lines = f.read().splitlines()
        except (UnicodeDecodeError, IsADirectoryError) as err:
            raise RecipeError(
                f"cannot read {self._path} as UTF-8 text: {type(err).__name__}.",
                where="data.path", fix="give a UTF-8 text file (label, delimiter, text per line)",
            ) from None
        for number, line in enumerate(lines, start=1):
            if (number == 1 and o.header) or not line.strip():
                continue
            parts = line.split(o.delimiter, 1) if o.label_first else line.rsplit(o.delimiter, 1)
            if len(parts) != 2:
                raise RecipeError(
                    f"line {number} of {self._path} has no {o.delimiter!r} between label and text: {line[:60]!r}",
                    where="data.delimiter",
                    fix="set data.delimiter to the file's separator, or fix that line",
                )
            label, text = parts if o.label_first else parts[::-1]
            pairs.append((number, label.strip(), text))
        if not pairs:
            raise RecipeError(f"{self._path} has no examples.", where="data.path")
        first_line = {}
        for number, label, _ in pairs:
            first_line.setdefault(label, number)
        # Shown when data.classes names a label the file lacks: often a typo on one of these lines.
        left_out = [f"line {number} of {self._path} has label {label!r}, which data.classes {o.classes} leaves out"
                    for label, number in first_line.items() if o.classes and label not in o.classes]
        classes = select_classes(sorted(first_line), o.classes, of=f"the labels of {self._path}",
                                 details=left_out[:3]).names
        ids = {name: i for i, name in enumerate(classes)}
        kept = [(label, text) for _, label, text in pairs if label in ids]
        return [text for _, text in kept], [ids[label] for label, _ in kept], list(classes)

    def _folder_rows(self) -> tuple[list[str], list[int], list[str]]:
        """One sub-folder per class, one text per file (the layout of IMDB's aclImdb)."""
        folders = {d.name: d for d in sorted(self._path.iterdir()) if d.is_dir()}
        if len(folders) < 2:
            raise RecipeError(f"{self._path} needs one sub-folder per class; found {list(folders)}.",
                              where="data.path", fix="put each class's text files in a sub-folder named after it")
        classes = select_classes(list(folders), self.options.classes, of=f"{self._path} (its sub-folders)").names
        texts, labels = [], []
        for class_id, name in enumerate(classes):
            files = sorted(f for f in folders[name].iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise RecipeError(f"class folder {folders[name]} has no text files.", where="data.path")
            for file in files:
                try:
                    texts.append(file.read_text(encoding="utf-8-sig"))
                except UnicodeDecodeError:
                    raise RecipeError(f"{file} is not UTF-8 text.", where=str(file)) from None
                labels.append(class_id)
        return texts, labels, list(classes)

    @cached_property
    def _indices(self) -> dict[str, list[int]]:
        return split_indices(self._rows[1], self.options.split)
