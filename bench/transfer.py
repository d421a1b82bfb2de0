"""Transfer learning against training from scratch, on the same 1,000 Fashion-MNIST images.

    python bench/transfer.py                 # trains mnist-cnn first (the source network)
    python bench/transfer.py --source RUN    # reuse a trained mnist-cnn run

Four trainings of `fashion-mnist-from-mnist`, each a fresh `dlrecipes train` process:
the recipe as it is (MNIST convolutions frozen, the classifier trained), the recipe with
a fine-tuning phase (every layer unfrozen at a low rate), everything but a new head
frozen, and the same network from scratch (no `init_from`, nothing frozen). Prints
their test accuracies side by side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = "fashion-mnist-from-mnist"
VARIANTS = {
    "frozen MNIST convolutions, classifier trained (the recipe)": [],
    "the recipe, then 5 epochs fine-tuning at 1e-4": ["--set", "train.fine_tune={epochs: 5, learning_rate: 0.0001}"],
    "frozen up to the head, only a new head trained": ["--set", "model.freeze=all_but_head"],
    "from scratch": ["--set", "model.init_from=null", "--set", "model.freeze=null"],
}


def train(name: str, runs_dir: Path, *extra: str) -> Path:
    print(f"training {name} {' '.join(extra)} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "dlrecipes", "train", name, "--runs-dir", str(runs_dir), *extra],
                   check=True, capture_output=True)
    return max(runs_dir.glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a complete mnist-cnn run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp)
        if args.source:
            shutil.copytree(args.source, runs_dir / args.source.name)
            source = runs_dir / args.source.name
        else:
            source = train("mnist-cnn", runs_dir)
        source_accuracy = json.loads((source / "metrics.json").read_text())["test"]["accuracy"]
        for label, extra in VARIANTS.items():
            run = train(RECIPE, runs_dir, *extra)
            rows.append((label, json.loads((run / "metrics.json").read_text())["test"]["accuracy"]))
    scratch = rows[-1][1]
    lines = [
        f"Source: mnist-cnn run {source.name} (MNIST test accuracy {source_accuracy:.4f}); "
        "1,000 Fashion-MNIST training images.",
        "",
        "| fashion-mnist-from-mnist | test accuracy | vs from scratch |",
        "|---|---|---|",
        *(f"| {label} | {acc:.4f} | {acc - scratch:+.4f} |" for label, acc in rows),
    ]
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "transfer.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
