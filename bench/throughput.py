"""Training throughput of `dlrecipes train` against a hand-written Keras script.

For each model, three configurations run as separate processes, alternating, several
times each:

    plain      bench/plain_keras.py: NumPy arrays into model.fit, keras-io style
    untuned    dlrecipes train with the tuning off: no tf.data cache, no XLA,
               one step per execution (what the runner itself costs)
    dlrecipes  dlrecipes train with the project's defaults
    +xla/-xla  (with --xla) the defaults with XLA forced on / off: decides the XLA default

Same model, data, batch size (128) and optimizer (Adam) everywhere, no validation.
Reported per configuration: steady-state training examples/s (median over epochs after
the first, then median and min-max over repetitions), the whole process's wall time as a
user times it (start to exit: imports, data, training, the test split, saving), time from
process start to the end of the first training step, peak RSS, and test accuracy. Ratios
are against `plain`, measured in the same run; the whole-process ratio is plain's wall time
over the configuration's (above 1 is faster).

    python bench/throughput.py [--reps 4] [--models mnist-dnn mnist-cnn] [--xla]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Per model: training examples and epochs, small enough to repeat, long enough to settle.
SIZES = {"mnist-dnn": (54_000, 4), "mnist-cnn": (8_192, 3)}
TEST = "test"  # every configuration ends with the whole test split, as a user's run does


def spawn(args: list[str], env: dict) -> tuple[str, float, float, float]:
    """Run a child; its output, start time, peak RSS (its own, with wait4) and wall time."""
    started = time.time()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        wall = time.time() - started
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{err.read()[-2000:]}")
        return out.read(), started, usage.ru_maxrss / 1024, wall


def plain(model: str, examples: int, epochs: int, env: dict, batch_size: int = 128) -> dict:
    stdout, started, rss, wall = spawn(
        [sys.executable, "bench/plain_keras.py", model, "--epochs", str(epochs), "--train", str(examples),
         "--test", TEST, "--batch-size", str(batch_size)], env
    )
    report = json.loads(stdout.strip().splitlines()[-1])
    return {"rates": report["examples_per_second"], "first_step": report["first_step_at"] - started, "rss_mb": rss,
            "wall": wall, "test_accuracy": report["test_accuracy"]}


def dlrecipes(model: str, examples: int, epochs: int, env: dict, tuned: bool, xla: bool | None = None,
              batch_size: int = 128) -> dict:
    with tempfile.TemporaryDirectory() as runs_dir:
        sets = [
            f"data.splits.train=train[:{examples}]",
            "data.splits.validation=null",
            f"data.splits.test={TEST}",
            f"train.batch_size={batch_size}",
        ]
        if not tuned:
            sets += ["train.cache=false", "runtime.jit_compile=false", "runtime.steps_per_execution=1"]
        if xla is not None:
            sets += [f"runtime.jit_compile={str(xla).lower()}"]
        args = [sys.executable, "-m", "dlrecipes", "train", model, "--epochs", str(epochs), "--runs-dir", runs_dir]
        for s in sets:
            args += ["--set", s]
        _, started, rss, wall = spawn(args, env)
        (run,) = Path(runs_dir).iterdir()
        info = json.loads((run / "run.json").read_text())
        accuracy = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
        lines = (run / "history.csv").read_text().splitlines()
        header = lines[0].split(",")
        column = header.index("examples_per_second")
        rates = [float(line.split(",")[column]) for line in lines[1:]]
        return {"rates": rates, "first_step": info["first_step_at"] - started, "rss_mb": rss,
                "wall": wall, "test_accuracy": accuracy,
                "jit_compile": info["runtime"]["jit_compile"],
                "steps_per_execution": info["runtime"]["steps_per_execution"]}


CONFIGS = {
    "plain": lambda m, n, e, env: plain(m, n, e, env),
    "untuned": lambda m, n, e, env: dlrecipes(m, n, e, env, tuned=False),
    "dlrecipes": lambda m, n, e, env: dlrecipes(m, n, e, env, tuned=True),
}
# The XLA decision (--xla): the defaults with XLA forced on and off.
XLA_CONFIGS = {
    "dlrecipes +xla": lambda m, n, e, env: dlrecipes(m, n, e, env, tuned=True, xla=True),
    "dlrecipes -xla": lambda m, n, e, env: dlrecipes(m, n, e, env, tuned=True, xla=False),
}


def steady(rates: list[float]) -> float:
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def measure(models: list[str], reps: int, configs: dict) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "DLRECIPES_OFFLINE": "1"}
    results: dict = {m: {c: [] for c in configs} for m in models}
    for model in models:
        examples, epochs = SIZES[model]
        for rep in range(reps):
            # Alternate configurations so slow drifts of the machine hit each alike.
            order = list(configs) if rep % 2 == 0 else list(reversed(configs))
            for config in order:
                print(f"{model} rep {rep + 1}/{reps}: {config}", file=sys.stderr, flush=True)
                results[model][config].append(configs[config](model, examples, epochs, env))
    return results


def table(results: dict) -> str:
    lines = [
        "| model | configuration | examples/s (median, min-max) | vs plain | whole process | vs plain "
        "| first step | peak RSS | vs plain | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, configs in results.items():
        base = statistics.median(steady(r["rates"]) for r in configs["plain"])
        base_rss = statistics.median(r["rss_mb"] for r in configs["plain"])
        base_wall = statistics.median(r.get("wall", float("nan")) for r in configs["plain"])
        for config, reps in configs.items():
            rates = [steady(r["rates"]) for r in reps]
            rss = statistics.median(r["rss_mb"] for r in reps)
            first = statistics.median(r["first_step"] for r in reps)
            wall = statistics.median(r.get("wall", float("nan")) for r in reps)
            accuracy = statistics.median(r.get("test_accuracy", float("nan")) for r in reps)
            lines.append(
                f"| {model} | {config} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
                f"| {statistics.median(rates) / base:.2f}x | {wall:.1f} s | {base_wall / wall:.2f}x "
                f"| {first:.1f} s | {rss:,.0f} MB | {rss / base_rss:.2f}x | {accuracy:.4f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--models", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--xla", action="store_true", help="also run the defaults with XLA forced on and off")
    args = parser.parse_args()
    results = measure(args.models, args.reps, {**CONFIGS, **(XLA_CONFIGS if args.xla else {})})
    print(table(results))
    # Keep the other models' latest figures, so running one model updates the report.
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    saved = out / "throughput.json"
    merged = {**(json.loads(saved.read_text()) if saved.is_file() else {}), **results}
    saved.write_text(json.dumps(merged, indent=2) + "\n")
    (out / "throughput.md").write_text(table(merged) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
