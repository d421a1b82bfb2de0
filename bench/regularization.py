"""Does the regularisation toolbox pay? fashion-mnist-cnn-regularized against plain
fashion-mnist-cnn, trained side by side for the same number of epochs.

    python bench/regularization.py              # at the regularized recipe's epochs
    python bench/regularization.py --epochs 15  # all at another count

Three fresh `dlrecipes train` processes: the plain recipe, the regularized recipe, and
the regularized recipe's network with its regularisers off (no dropout, augmentation or
label smoothing) - what the regularisers themselves add. Prints each one's test accuracy
with the last epoch's training and validation accuracy (how far it fits its training
data), and writes the table to bench/results/regularization.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dlrecipes.loader import load_recipe# noqa: E402

PLAIN, REGULARIZED = "fashion-mnist-cnn", "fashion-mnist-cnn-regularized"
WITHOUT_REGULARISERS = ["--set", "model.dropout=0", "--set", "model.dense_dropout=0",
                        "--set", "train.label_smoothing=0", "--set", "train.augment=[]"]


def train(label: str, name: str, epochs: int, runs_dir: Path, *extra: str) -> dict:
    print(f"training {label} for {epochs} epochs ...", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "dlrecipes", "train", name, "--epochs", str(epochs), "--runs-dir", str(runs_dir), *extra],
        check=True, capture_output=True,
    )
    run = max(runs_dir.glob(f"{name}-2*"), key=lambda p: p.stat().st_mtime)
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "recipe": label,
        "test": metrics["test"]["accuracy"],
        "train": metrics["train"]["accuracy"],
        "validation": metrics["validation"]["accuracy"],
        "train_seconds": json.loads((run / "run.json").read_text())["train_seconds"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=load_recipe(REGULARIZED).recipe.train.epochs)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            train(PLAIN, PLAIN, args.epochs, Path(tmp)),
            train(REGULARIZED, REGULARIZED, args.epochs, Path(tmp)),
            train(f"{REGULARIZED}, regularisers off", REGULARIZED, args.epochs, Path(tmp), *WITHOUT_REGULARISERS),
        ]
    plain = rows[0]["test"]
    lines = [
        f"All trained for {args.epochs} epochs; accuracy at the last epoch (training accuracy is "
        "measured with dropout and augmentation on).",
        "",
        "| recipe | test | vs plain | train | validation | train time |",
        "|---|---|---|---|---|---|",
        *(f"| {r['recipe']} | {r['test']:.4f} | {r['test'] - plain:+.4f} | {r['train']:.4f} | "
          f"{r['validation']:.4f} | {r['train_seconds']:.0f} s |" for r in rows),
    ]
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "regularization.md").write_text(table + "\n")
    return 0 if rows[1]["test"] > plain else 1


if __name__ == "__main__":
    sys.exit(main())
