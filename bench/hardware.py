"""What fraction of the machine's float32 peak a training step reaches.

Measures float32 matrix-multiply GFLOP/s with TensorFlow (the best this machine does on
dense math), counts each recipe model's FLOPs per example (multiply-adds of Dense and
Conv2D layers x 2; training ~ 3x the forward pass: forward, and two matmuls backward),
and, given measured training throughput (bench/results/throughput.json), reports
achieved GFLOP/s as a fraction of the matmul figure.

    python bench/hardware.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def matmul_gflops(n: int = 2048, repeats: int = 20) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            c = tf.matmul(a, b)
        c.numpy()
        best = min(best, (time.perf_counter() - started) / repeats)
    return 2 * n**3 / best / 1e9


def forward_flops(model) -> int:
    """FLOPs of one example's forward pass through the Dense and Conv2D layers."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, _ = layer.output.shape
            total += 2 * int(layer.kernel.numpy().size) * h * w
    return total


def main() -> int:
    from dlrecipes.data import source_of
    from dlrecipes.models import build_model
    from dlrecipes.loader import load_recipe

    peak = matmul_gflops()
    throughput_file = REPO / "bench" / "results" / "throughput.json"
    measured = json.loads(throughput_file.read_text()) if throughput_file.is_file() else {}
    lines = [
        f"float32 matmul (2048x2048, TensorFlow): {peak:.1f} GFLOP/s",
        "",
        "| model | forward MFLOP/example | training examples/s | achieved GFLOP/s | fraction of matmul |",
        "|---|---|---|---|---|",
    ]
    for name in ("mnist-dnn", "mnist-cnn"):
        recipe = load_recipe(name).recipe
        model = build_model(recipe, source_of(recipe).signature())
        flops = forward_flops(model)
        runs = measured.get(name, {}).get("dlrecipes")
        if runs:
            rate = statistics.median(statistics.median(r["rates"][1:]) for r in runs)
            achieved = 3 * flops * rate / 1e9
            lines.append(f"| {name} | {flops / 1e6:.2f} | {rate:,.0f} | {achieved:.1f} | {achieved / peak:.0%} |")
        else:
            lines.append(f"| {name} | {flops / 1e6:.2f} | (run bench/throughput.py) | | |")
    text = "\n".join(lines)
    print(text)
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "hardware.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
