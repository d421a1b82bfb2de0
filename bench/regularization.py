"""Does the regularisation toolbox pay? fashion-mnist-cnn-regularized against plain
fashion-mnist-cnn, trained side by side for the same number of epochs.

    python bench/regularization.py              # at the regularized recipe's epochs
    python bench/regularization.py --epochs 15  # both at another count

Each recipe trains in a fresh `dlrecipes train` process. Prints the test accuracy of both
with the last epoch's training and validation accuracy (how far each fits its training
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

from dlrecipes.recipe import load_recipe  # noqa: E402

PLAIN, REGULARIZED = "fashion-mnist-cnn", "fashion-mnist-cnn-regularized"


def train(name: str, epochs: int, runs_dir: Path) -> dict:
    print(f"training {name} for {epochs} epochs ...", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "dlrecipes", "train", name, "--epochs", str(epochs), "--runs-dir", str(runs_dir)],
        check=True, capture_output=True,
    )
    run = max(runs_dir.glob(f"{name}-2*"), key=lambda p: p.stat().st_mtime)
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "recipe": name,
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
        rows = [train(name, args.epochs, Path(tmp)) for name in (PLAIN, REGULARIZED)]
    plain = rows[0]["test"]
    lines = [
        f"Both trained for {args.epochs} epochs; accuracy at the last epoch (training accuracy is "
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
