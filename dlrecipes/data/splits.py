"""Train / validation / test splits cut from one file, and the classes a recipe keeps.

Sources that read a single table or text file (no predefined splits) share this, so every
such recipe splits the same way: each class is shuffled with the recipe's seed and cut by
the fractions, which keeps the class balance of the whole file in every split. Multi-hot
labels (several classes per example) are cut per combination of classes.

Cross-validation (`folds: K`) cuts the same training data - every row but the test split's,
which stays exactly the split without folds - into K disjoint folds that together hold each
row once, stratified the same way; fold i validates and the other K-1 train.

`data.classes` means one thing for every classification source: these classes, in this
id order; examples of any other class are left out. `select_classes` matches the names
against the source's own class names and `ClassSelection` relabels the examples, so the
six sources do not each grow their own reading of the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section, Seed

# The description of every source's `classes` option ends with this.
CLASSES_HELP = ("Classes to keep, in class-id order (matched against the data's class names); examples of other "
                "classes are left out. Every class when omitted.")


# `folds`, wherever a source declares it (data.split.folds, or data.folds where the source's
# split keys sit in `data` itself).
Folds = Annotated[int, Field(ge=2)]
FOLDS_HELP = ("Cross-validation: `train` runs once per fold of the training data (all but the test split), "
              "each fold validating the model trained on the others; the validation fraction is not used.")
FOLD_HELP = "With folds: train only this fold (1..folds) - what each cross-validation run's recipe.yaml says."


class FractionSplits(Section):
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction held out to watch training (0: none).")
    test: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out for the final test metrics.")
    seed: Seed = Field(0, description="Seed of the shuffle before cutting; fixed so the test split never changes.")
    stratify: bool = Field(True, description="Cut each class separately (classification), keeping its share.")
    folds: Folds | None = Field(None, description=FOLDS_HELP)
    fold: int | None = Field(None, ge=1, description=FOLD_HELP)

    @model_validator(mode="after")
    def _leaves_training_data(self):
        if self.validation + self.test >= 1.0:
            raise ValueError(
                f"validation ({self.validation}) + test ({self.test}) leave nothing to train on; "
                "their sum must be below 1"
            )
        check_fold(self.folds, self.fold)
        return self

    @property
    def has_validation(self) -> bool:
        """A validation split: a fraction, or the fold of a cross-validation."""
        return bool(self.validation or self.folds)


def check_fold(folds: int | None, fold: int | None) -> None:
    """`fold` names one of the `folds` (a ValueError for the schema's message)."""
    if fold is not None and folds is None:
        raise ValueError(f"fold ({fold}) picks one of the folds of a cross-validation; set folds too")
    if fold is not None and fold > folds:
        raise ValueError(f"fold {fold} is not one of the {folds} folds (1..{folds})")


def folds_path(data) -> tuple[str, ...]:
    """The key path of a `data:` section's `folds`: data.split.folds where the source has a
    `split` section that declares it, else data.folds."""
    split = getattr(data, "split", None)
    return ("data", "split", "folds") if split is not None and "folds" in type(split).model_fields else ("data", "folds")


def folds_of(data) -> tuple[int | None, int | None]:
    """(folds, fold) of a `data:` section, from where its source declares them; fold is None
    for a source that cannot fold (it declares `folds` only to refuse it with a reason)."""
    section = data.split if folds_path(data)[1] == "split" else data
    return section.folds, getattr(section, "fold", None)


def fold_indices(labels, folds: int, seed: int, stratify: bool = True) -> list[list[int]]:
    """Rows 0..n-1 in `folds` folds, each sorted: disjoint, together every row once, their
    sizes within one of each other.

    Each group (a class, or a combination of classes for multi-hot rows; every row when
    not stratified) is shuffled with `seed`, the groups are laid end to
    end and the rows dealt round the folds in turn, so each fold holds its share of every
    class, within one example.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(group) for group in _groups(labels, stratify)])
    return [sorted(int(i) for i in order[k::folds]) for k in range(folds)]


def _groups(labels, stratify: bool) -> list:
    """The rows of each class id (or combination of classes), or every row as one group."""
    import numpy as np

    n = len(labels)
    if not stratify or not n:
        return [np.arange(n)]
    _, group_of = np.unique(np.asarray(labels), axis=0, return_inverse=True)
    group_of = group_of.reshape(-1)
    return [np.flatnonzero(group_of == g) for g in range(int(group_of.max()) + 1)]


def split_indices(labels, splits: FractionSplits) -> dict[str, list[int]]:
    """Row indices of each role ('train', 'validation', 'test'), each sorted.

    `labels` are per-row class ids or multi-hot rows (stratified), or None (one group:
    regression, unlabelled). With `folds`, validation is fold `fold` (the first when
    unset) of the rows the test split leaves.
    """
    import numpy as np

    if splits.folds:
        return _fold_split(labels, splits)
    n = len(labels)
    groups = _groups(labels, splits.stratify) if n else []
    rng = np.random.default_rng(splits.seed)
    roles: dict[str, list] = {"train": [], "validation": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        n_test, n_validation = _cut(len(group), splits)
        roles["test"].extend(group[:n_test])
        roles["validation"].extend(group[n_test:n_test + n_validation])
        roles["train"].extend(group[n_test + n_validation:])
    for role, fraction in (("test", splits.test), ("validation", splits.validation), ("train", 1.0)):
        if fraction and not roles[role]:
            raise RecipeError(
                f"the {role} split is empty: {n} rows are too few for these fractions.",
                where=f"data.split.{role}" if role != "train" else "data.split",
                fix="use more data, or larger fractions (or validation: 0 for no validation split)",
            )
    return {role: sorted(int(i) for i in rows) for role, rows in roles.items() if rows}


def _fold_split(labels, splits: FractionSplits) -> dict[str, list[int]]:
    """split_indices with folds: the test split cut as without them, then fold `fold` of
    the other rows validates."""
    import numpy as np

    roles = split_indices(labels, splits.model_copy(update={"folds": None, "fold": None, "validation": 0.0}))
    rest = np.asarray(roles.get("train", []), dtype="int64")
    if len(rest) < splits.folds:
        raise RecipeError(
            f"{splits.folds} folds need at least {splits.folds} training rows; the test split leaves {len(rest)}.",
            where="folds (data.split.folds, or data.folds)", fix="use fewer folds, or more data",
        )
    folds = fold_indices(np.asarray(labels)[rest], splits.folds, splits.seed, splits.stratify)
    held = set(folds[(splits.fold or 1) - 1])
    cut = {
        "train": [int(rest[i]) for i in range(len(rest)) if i not in held],
        "validation": [int(rest[i]) for i in sorted(held)],
    }
    return {**cut, **({"test": roles["test"]} if "test" in roles else {})}


def _cut(size: int, splits: FractionSplits) -> tuple[int, int]:
    """Rows of a group of `size` that go to test and to validation."""
    return round(size * splits.test), round(size * splits.validation)


def why_not_stratified(multi_hot, splits: FractionSplits) -> str | None:
    """Why multi-hot rows cannot be cut per combination of classes, or None when they can.

    A combination held by too few rows to give each split one of them would land in the
    training split only, so the test split would miss it; a plain seeded split is then the
    honest choice, and the reason is shown to the user.
    """
    import numpy as np

    if not splits.stratify:
        return None
    _, counts = np.unique(np.asarray(multi_hot), axis=0, return_counts=True)
    too_few = [int(c) for c in counts if not _shared_out(int(c), splits)]
    if not too_few:
        return None
    return (f"{len(too_few)} of the {len(counts)} label combinations have too few rows (the rarest {min(too_few)}) "
            "to reach every split, so the split is not stratified (a plain seeded shuffle)")


def _shared_out(size: int, splits: FractionSplits) -> bool:
    n_test, n_validation = _cut(size, splits)
    return (n_test >= 1 or not splits.test) and (n_validation >= 1 or not splits.validation) \
        and size - n_test - n_validation >= 1


def split_arrays(train_labels, test_size: int | None, splits: FractionSplits) -> dict[str, tuple[str, list[int]]]:
    """role -> (which arrays, row indices) for a source with training arrays and, perhaps,
    test arrays of `test_size` rows: validation is cut from the training arrays, and so is
    test when there are no test arrays."""
    if test_size is not None:
        splits = splits.model_copy(update={"test": 0.0})
    where = {role: ("train", rows) for role, rows in split_indices(train_labels, splits).items()}
    if test_size is not None:
        where["test"] = ("test", list(range(test_size)))
    return where


# -- data.classes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassSelection:
    """The classes a recipe trains on: their names in (new) id order, and each one's id in
    the source, out of the source's `total` classes."""

    names: tuple[str, ...]
    source_ids: tuple[int, ...]
    total: int

    @property
    def keeps_all(self) -> bool:
        return self.source_ids == tuple(range(self.total))

    def id_map(self):
        """source class id -> new class id, -1 for a class left out (int64)."""
        import numpy as np

        table = np.full(self.total, -1, dtype="int64")
        table[list(self.source_ids)] = np.arange(len(self.source_ids))
        return table

    def relabel(self, labels):
        """Source class ids as new ids, -1 where the example is left out."""
        import numpy as np

        return self.id_map()[np.asarray(labels, dtype="int64")]

    def columns(self, multi_hot):
        """Multi-hot rows with the kept classes' columns only, in the new order. Every row
        stays: in multi-label data, having none of the classes is an answer too."""
        import numpy as np

        return np.asarray(multi_hot)[:, list(self.source_ids)]

    def relabel_dataset(self, ds):
        """A tf.data `(inputs, class id)` dataset without the left-out classes, relabelled.
        Its cardinality is unknown afterwards: the caller asserts the counted size."""
        import tensorflow as tf

        table = tf.constant(self.id_map())
        ds = ds.filter(lambda x, y: tf.gather(table, y) >= 0)
        return ds.map(lambda x, y: (x, tf.gather(table, y)))


def select_classes(available: Sequence[str], wanted: Sequence[str] | None, *, of: str,
                   details: Sequence[str] = ()) -> ClassSelection:
    """The classes `data.classes` keeps, matched against the source's class names.

    `of` says whose classes they are, for the error ("tfds dataset 'mnist'"); `details`
    adds lines to it (a text file says where its other labels are).
    """
    available = tuple(available)
    if wanted is None:
        return ClassSelection(available, tuple(range(len(available))), len(available))
    wanted = tuple(wanted)
    if not wanted:
        raise RecipeError("data.classes is empty.", where="data.classes",
                          fix=f"list the classes to keep (of {_listed(available)}), or remove data.classes for all")
    repeated = sorted({name for name in wanted if wanted.count(name) > 1})
    if repeated:
        raise RecipeError(f"data.classes lists {_listed(repeated)} more than once.", where="data.classes",
                          fix="list each class once, in the class-id order wanted")
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise _unknown_classes(unknown, wanted, available, of, list(details))
    ids = {name: i for i, name in enumerate(available)}
    return ClassSelection(wanted, tuple(ids[name] for name in wanted), len(available))


def _unknown_classes(unknown, wanted, available, of, details) -> RecipeError:
    if _are_ids(available) and not set(wanted) & set(available):
        # The old reading of data.classes in idx / npz recipes: names for the ids.
        only = "only " if len(wanted) < len(available) else ""
        return RecipeError(
            f"data.classes {list(wanted)} names {only}{len(wanted)} classes, none of them one of the "
            f"{len(available)} classes of {of}: its labels are class ids, named '0'..'{len(available) - 1}'.",
            where="data.classes", details=details,
            fix="list the ids of the classes to keep, in the id order wanted (e.g. ['0', '1']); "
                "data.classes picks classes, it does not rename them",
        )
    verb = "is not a class" if len(unknown) == 1 else "are not classes"
    return RecipeError(
        f"{_listed(unknown)} {verb} of {of}.{did_you_mean(unknown[0], available)}",
        where="data.classes", details=details, fix=f"pick from its classes: {_listed(available)}",
    )


def _are_ids(names: Sequence[str]) -> bool:
    return tuple(names) == tuple(str(i) for i in range(len(names)))


def _listed(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_training_classes(task, counts, names: Sequence[str], *, where: str, fix: str) -> None:
    """Refuse a training split whose examples are all of one class.

    Such a split trains to 'complete' - the model learns to answer that class - with an AUC
    of 0 and an accuracy that only reflects the test split's balance. `counts` are the
    training examples per class id.
    """
    if not task.one_label_per_example or len(names) < 2:
        return
    present = [i for i, count in enumerate(counts) if count]
    if len(present) == 1:
        only, n = present[0], int(counts[present[0]])
        others = _listed([name for i, name in enumerate(names) if i != only])
        raise RecipeError(
            f"the training split holds one class only: {'all its' if n > 1 else 'its'} {n} example"
            f"{'s are' if n > 1 else ' is'} '{names[only]}' (no example of {others}); a {task.name} "
            "classifier cannot learn from one class.",
            where=where, fix=fix,
        )
