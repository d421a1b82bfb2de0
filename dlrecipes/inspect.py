"""`dlrecipes data inspect`: look at a recipe's data before training on it.

Counts per split, the class balance, a summary of the inputs (per column for tables,
pixel statistics for images, lengths for text, the series for windows) and a few
examples; image datasets also get a grid of examples as a PNG.
"""

from __future__ import annotations

from pathlib import Path

from dlrecipes.data import source_of
from dlrecipes.plots import save_image_grid


def inspect_data(recipe, examples: int = 3, grid: Path | None = None) -> dict:
    import numpy as np

    source = source_of(recipe)
    signature = source.train_signature()
    datasets = source.load()
    report = {
        "recipe": recipe.name, "source": recipe.data.source,
        "input": {"shape": list(signature.input_shape), "dtype": signature.input_dtype},
        "splits": {}, "classes": list(signature.class_names) if signature.class_names else None,
    }
    for role, ds in datasets.items():
        xs, ys = [], []
        for x, y in ds.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
        ys = np.asarray(ys)
        entry = {"examples": len(ys)}
        if signature.class_names and recipe.task.problem.one_label_per_example:
            counts = np.bincount(ys.astype(int).ravel(), minlength=len(signature.class_names))
            entry["class_balance"] = {name: int(c) for name, c in zip(signature.class_names, counts)}
        elif ys.size:
            entry["target"] = {"mean": float(ys.mean()), "std": float(ys.std()), "min": float(ys.min()), "max": float(ys.max())}
        if role == "train":
            entry["inputs"] = _summary(xs, signature)
            report["examples"] = [_shown(x, y, signature) for x, y in zip(xs[:examples], ys[:examples])]
            if grid is not None and len(signature.input_shape) == 3:
                report["grid"] = str(save_image_grid(np.stack(xs[:64]), grid))
        report["splits"][role] = entry
    return report


def _summary(xs: list, signature) -> dict:
    import numpy as np

    if signature.columns:
        summary = {}
        for name, kind in signature.columns.items():
            values = [x[name] for x in xs]
            if kind == "numeric":
                v = np.asarray(values, dtype="float64")
                summary[name] = {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                                 "min": float(v.min()), "max": float(v.max())}
            else:
                found, counts = np.unique([v.decode() if isinstance(v, bytes) else str(v) for v in values], return_counts=True)
                summary[name] = {"categories": {str(k): int(c) for k, c in zip(found, counts)}}
        return summary
    if signature.input_dtype == "string":
        words = np.array([len(x.decode().split()) for x in xs])
        return {"words per text": {"mean": round(float(words.mean()), 1), "median": float(np.median(words)),
                                   "max": int(words.max())}}
    v = np.asarray(xs, dtype="float64")
    return {"values": {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
                       "min": float(v.min()), "max": float(v.max())}}


def _shown(x, y, signature) -> dict:
    import numpy as np

    label = signature.class_names[int(y)] if signature.class_names and np.ndim(y) == 0 else np.asarray(y).tolist()
    if signature.columns:
        return {"row": {k: (v.decode() if isinstance(v, bytes) else float(v)) for k, v in x.items()}, "target": label}
    if signature.input_dtype == "string":
        return {"text": x.decode()[:200], "label": label}
    if len(signature.input_shape) == 3:
        return {"image": f"{x.shape[0]}x{x.shape[1]}x{x.shape[2]}", "label": label}
    return {"inputs": np.asarray(x).ravel()[:10].round(4).tolist(), "target": label}
