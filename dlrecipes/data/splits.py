"""Train / validation / test splits cut from one file: fractions, a fixed seed, stratified.

Sources that read a single table or text file (no predefined splits) share this, so every
such recipe splits the same way: each class is shuffled with the recipe's seed and cut by
the fractions, which keeps the class balance of the whole file in every split.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from dlrecipes.errors import RecipeError
from dlrecipes.schema import Section


class FractionSplits(Section):
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction held out to watch training (0: none).")
    test: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out for the final test metrics.")
    seed: int = Field(0, description="Seed of the shuffle before cutting; fixed so the test split never changes.")
    stratify: bool = Field(True, description="Cut each class separately (classification), keeping its share.")

    @model_validator(mode="after")
    def _leaves_training_data(self):
        if self.validation + self.test >= 1.0:
            raise ValueError(
                f"validation ({self.validation}) + test ({self.test}) leave nothing to train on; "
                "their sum must be below 1"
            )
        return self


def split_indices(labels, splits: FractionSplits) -> dict[str, list[int]]:
    """Row indices of each role ('train', 'validation', 'test'), each sorted.

    `labels` are per-row class ids (stratified) or None (one group: regression, unlabelled).
    """
    import numpy as np

    n = len(labels)
    groups = [np.arange(n)]
    if splits.stratify and labels is not None:
        labels = np.asarray(labels)
        groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    rng = np.random.default_rng(splits.seed)
    roles: dict[str, list] = {"train": [], "validation": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        n_test = round(len(group) * splits.test)
        n_validation = round(len(group) * splits.validation)
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
