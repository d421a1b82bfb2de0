"""Labelled text in a delimited file, one example per line: `label<TAB>text` and the like.

The text reaches the model as raw strings: the model's own `TextVectorization` layer turns
them into token ids (adapted on the training split only), so an exported model takes
strings too. Nothing here escapes or unquotes: a line is split at the first delimiter
(the last when the label comes second), because messages may contain stray quotes and
delimiters of their own (the SMS Spam Collection has both).
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import FractionSplits, split_indices
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
        description="Label values in class-id order (binary: negative first); sorted labels when omitted.",
    )
    split: FractionSplits = FractionSplits()


@register_source("text", TextOptions)
class TextSource:
    def __init__(self, options: TextOptions):
        self.options = options

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        """From the recipe's `classes` alone when the file is absent (`describe` anywhere)."""
        if self.options.classes and not self.is_local():
            return Signature((), "string", len(self.options.classes), tuple(self.options.classes))
        return self.train_signature()

    def train_signature(self) -> Signature:
        texts, labels, classes = self._rows
        sizes = {role: len(rows) for role, rows in self._indices.items()}
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
            with open(self._path, encoding="utf-8", newline="") as f:
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
        found = sorted({label for _, label, _ in pairs})
        classes = o.classes or found
        ids = {name: i for i, name in enumerate(classes)}
        for number, label, _ in pairs:
            if label not in ids:
                raise RecipeError(
                    f"line {number} of {self._path} has label {label!r}, not one of data.classes {classes}.",
                    where="data.classes",
                    fix=f"list every label the file uses (found: {found}), or fix that line",
                )
        return [text for _, _, text in pairs], [ids[label] for _, label, _ in pairs], list(classes)

    def _folder_rows(self) -> tuple[list[str], list[int], list[str]]:
        """One sub-folder per class, one text per file (the layout of IMDB's aclImdb)."""
        folders = {d.name: d for d in sorted(self._path.iterdir()) if d.is_dir()}
        classes = self.options.classes or list(folders)
        missing = [name for name in classes if name not in folders]
        if len(classes) < 2 or missing:
            raise RecipeError(
                f"{self._path} needs one sub-folder per class; found {list(folders)}"
                + (f", missing {missing}" if missing else "") + ".",
                where="data.path / data.classes", fix="put each class's text files in a sub-folder named after it",
            )
        texts, labels = [], []
        for class_id, name in enumerate(classes):
            files = sorted(f for f in folders[name].iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise RecipeError(f"class folder {folders[name]} has no text files.", where="data.path")
            for file in files:
                try:
                    texts.append(file.read_text(encoding="utf-8"))
                except UnicodeDecodeError:
                    raise RecipeError(f"{file} is not UTF-8 text.", where=str(file)) from None
                labels.append(class_id)
        return texts, labels, list(classes)

    @cached_property
    def _indices(self) -> dict[str, list[int]]:
        return split_indices(self._rows[1], self.options.split)
