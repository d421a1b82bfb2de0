"""How cost grows with the batch: training examples/s against batch size, side by side.

For each batch size, `bench/plain_keras.py` and `dlrecipes train` (the recipe's defaults,
only `train.batch_size` changed) run as separate processes, alternating, and the table
gives both rates, their ratio, and the fraction of this machine's float32 matrix-multiply
rate each reaches (3 x forward FLOPs x examples/s, as in bench/hardware.py). Throughput
only: the learning rate is not rescaled, so accuracies at other batch sizes mean nothing.

    python bench/batch_sizes.py [--models mnist-dnn mnist-cnn] [--sizes 32 64 ... 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from hardware import forward_flops, matmul_gflops  # noqa: E402
from throughput import SIZES, dlrecipes, plain, steady  # noqa: E402

BATCH_SIZES = [32, 64, 128, 256, 512, 1024, 2048]


def model_flops(name: str) -> int:
    from dlrecipes.data import source_of
    from dlrecipes.loader import load_recipe
    from dlrecipes.models import build_model

    recipe = load_recipe(name).recipe
    return forward_flops(build_model(recipe, source_of(recipe).signature()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--sizes", nargs="+", type=int, default=BATCH_SIZES)
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "DLRECIPES_OFFLINE": "1"}
    peak = matmul_gflops()
    lines = [
        f"float32 matmul (2048x2048, TensorFlow): {peak:.1f} GFLOP/s",
        "",
        "| model | batch | plain examples/s | of peak | dlrecipes examples/s | of peak | vs plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in args.models:
        examples, epochs = SIZES[model]
        flops = model_flops(model)
        for i, batch in enumerate(args.sizes):
            print(f"{model} batch {batch}", file=sys.stderr, flush=True)
            runners = {
                "plain": lambda: plain(model, examples, epochs, env, batch_size=batch),
                "dlrecipes": lambda: dlrecipes(model, examples, epochs, env, tuned=True, batch_size=batch),
            }
            order = list(runners) if i % 2 == 0 else list(reversed(runners))  # alternate against drift
            rates = {name: steady(runners[name]()["rates"]) for name in order}
            share = {name: 3 * flops * rate / 1e9 / peak for name, rate in rates.items()}
            lines.append(f"| {model} | {batch} | {rates['plain']:,.0f} | {share['plain']:.0%} "
                         f"| {rates['dlrecipes']:,.0f} | {share['dlrecipes']:.0%} "
                         f"| {rates['dlrecipes'] / rates['plain']:.2f}x |")
    text = "\n".join(lines)
    print(text)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "batch_sizes.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
