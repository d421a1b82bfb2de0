"""Exports measured: file size, test accuracy, batch-1 latency and batch-256 throughput per
format and quantization, against the trained Keras model's `predict` on the same inputs.

For each recipe (mnist-dnn, mnist-cnn, fashion-mnist-cnn, sms-spam-lstm), a trained run -
the latest complete one in --runs-dir, else one trained now with the recipe as it is - is
exported to every registered format (`dlrecipes.export.FORMATS`) in float32 and in each of
the format's quantizations; a format that cannot hold the model is a row saying why. Each
export is opened as `dlrecipes predict` opens it (`opening.open_export`) and fed the raw
test split (uint8 images, strings):

    size        the model's files (the export folder less metadata.json; Keras: model.keras)
    accuracy    on the whole test split
    batch 1     median milliseconds of --calls calls on one example each (after 10 warm-up calls)
    batch 256   examples per second: 256 over the median time of --batches calls
    x keras     the ratio to Keras' `predict` (its file size; its time over the export's: > 1 is faster)

`keras predict` is `model.predict` on the preprocessed inputs, as a Keras user serves;
`keras call` is the model called in a `tf.function` (a graph, as the SavedModel is), which
skips predict's per-call set-up (tens of ms): the fair batch-1 rival in Python.

    python bench/export.py [--runs-dir RUNS] [--recipes mnist-dnn ...] [--calls 200] [--batches 20] [--json]
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
sys.path.insert(0, str(REPO))

RECIPES = ["mnist-dnn", "mnist-cnn", "fashion-mnist-cnn", "sms-spam-lstm"]
BATCH = 256
WARM_UP = 10


def trained_run(recipe: str, runs_dir: Path) -> Path:
    """The latest complete run of `recipe` in `runs_dir`, trained there first if there is none."""
    from dlrecipes import runs
    from dlrecipes.errors import RecipeError

    try:
        return runs.find_run(recipe, runs_dir)
    except RecipeError:
        pass
    print(f"training {recipe} into {runs_dir} (no complete run there)", file=sys.stderr, flush=True)
    trained = subprocess.run([sys.executable, "-m", "dlrecipes", "train", recipe, "--runs-dir", str(runs_dir)],
                             cwd=REPO, capture_output=True, text=True)
    if trained.returncode != 0:
        raise RuntimeError(f"dlrecipes train {recipe} failed ({trained.returncode}):\n{trained.stderr[-3000:]}")
    return runs.find_run(recipe, runs_dir)


def test_split(served) -> tuple[dict, object]:
    """The whole test split as raw inputs (name -> array, as the exports take them) and labels."""
    import numpy as np

    xs, ys = [], []
    for x, y in served.source.load()["test"].batch(4096):
        xs.append(x if isinstance(x, dict) else {"inputs": x})
        ys.append(y.numpy())
    inputs = {name: np.concatenate([x[name].numpy() for x in xs]) for name in xs[0]}
    return inputs, np.concatenate(ys)


def rows_of(inputs: dict, start: int, stop: int) -> dict:
    return {name: value[start:stop] for name, value in inputs.items()}


def measure(answer, inputs: dict, labels, task, output: str, calls: int, batches: int) -> dict:
    """Accuracy, batch-1 latency and batch-256 throughput of `answer(inputs) -> outputs`."""
    import numpy as np

    n = len(labels)
    scores = np.concatenate([np.asarray(answer(rows_of(inputs, i, i + BATCH))[output]) for i in range(0, n, BATCH)])
    accuracy = float(np.mean(task.class_scores(scores.astype("float64")).argmax(-1) == labels))

    def timed(start: int, size: int) -> float:
        batch = rows_of(inputs, start % (n - size), start % (n - size) + size)
        began = time.perf_counter()
        answer(batch)
        return time.perf_counter() - began

    for i in range(WARM_UP):
        timed(i, 1)
        timed(i * BATCH, BATCH)
    single = statistics.median(timed(i, 1) for i in range(calls))
    full = statistics.median(timed(i * BATCH, BATCH) for i in range(batches))
    return {"accuracy": accuracy, "batch1_ms": single * 1000, "batch256_per_s": BATCH / full}


def keras_answers(served):
    """`model.predict`, and the model called in a `tf.function`, on the preprocessed inputs,
    as functions of raw inputs."""
    import numpy as np
    import tensorflow as tf

    model, source, output = served.model, served.source, served.task.output_name
    table = bool(served.signature.columns)

    def prepared(inputs: dict):
        raw = {k: tf.constant(v) for k, v in inputs.items()} if table else tf.constant(inputs["inputs"])
        return source.preprocess(raw)

    def predict(inputs: dict) -> dict:
        return {output: model.predict(prepared(inputs), batch_size=BATCH, verbose=0)}

    graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def call(inputs: dict) -> dict:
        return {output: np.asarray(graph(prepared(inputs)))}

    return predict, call


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "metadata.json")


def bench_recipe(recipe: str, runs_dir: Path, work: Path, calls: int, batches: int) -> list[dict]:
    from dlrecipes.export import FORMATS, export_run
    from dlrecipes.export.opening import open_export
    from dlrecipes.export.serving import Served

    run = trained_run(recipe, runs_dir)
    served = Served.load(run)
    task, output = served.task, served.task.output_name
    inputs, labels = test_split(served)
    predict, call = keras_answers(served)
    keras_size = (run / "model.keras").stat().st_size
    rows = [{"recipe": recipe, "run": run.name, "format": "keras predict", "quantization": None, "bytes": keras_size,
             **measure(predict, inputs, labels, task, output, calls, batches)},
            {"recipe": recipe, "run": run.name, "format": "keras call", "quantization": None, "bytes": keras_size,
             **measure(call, inputs, labels, task, output, calls, batches)}]
    for fmt in FORMATS.values():
        for quantization in (None, *fmt.quantizations):
            row = {"recipe": recipe, "run": run.name, "format": fmt.name, "quantization": quantization}
            problems = fmt.problems(served, quantization)
            if problems:
                rows.append({**row, "refused": "; ".join(problems)})
                continue
            try:
                (written,) = export_run(run, work / recipe, formats=[fmt.name], quantization=quantization)
                opened = open_export(written.path)
                rows.append({**row, "bytes": folder_size(written.path),
                             **measure(opened.engine, inputs, labels, task, output, calls, batches)})
            except Exception as error:  # one format's failure is a row, not the end of the table
                rows.append({**row, "failed": f"{type(error).__name__}: {error}"[:300]})
            print(f"{recipe} {fmt.name} {quantization or 'float32'}: done", file=sys.stderr, flush=True)
    reference = rows[0]
    for row in rows:
        if "accuracy" in row:
            row["size_x_keras"] = row["bytes"] / reference["bytes"]
            row["accuracy_minus_keras"] = row["accuracy"] - reference["accuracy"]
            row["batch1_x_keras"] = reference["batch1_ms"] / row["batch1_ms"]
            row["batch256_x_keras"] = row["batch256_per_s"] / reference["batch256_per_s"]
    return rows


def show(rows: list[dict]) -> None:
    from rich.table import Table

    from dlrecipes import consoles

    console = consoles.make()
    for recipe in dict.fromkeys(row["recipe"] for row in rows):
        table = Table(title=f"{recipe} ({next(r['run'] for r in rows if r['recipe'] == recipe)})")
        for name in ("format", "quantization", "size", "x keras", "accuracy", "- keras", "batch 1 ms", "x keras",
                     "batch 256 /s", "x keras"):
            table.add_column(name, justify="left" if name in ("format", "quantization") else "right")
        for row in (r for r in rows if r["recipe"] == recipe):
            kind = [row["format"], row["quantization"] or "float32"]
            if "accuracy" not in row:
                table.add_row(*kind, f"[yellow]{row.get('refused') and 'refused: ' + row['refused'] or row['failed']}[/]")
                continue
            table.add_row(*kind, f"{row['bytes'] / 1e6:.2f} MB", f"{row['size_x_keras']:.2f}", f"{row['accuracy']:.4f}",
                          f"{row['accuracy_minus_keras']:+.4f}", f"{row['batch1_ms']:.2f}", f"{row['batch1_x_keras']:.1f}",
                          f"{row['batch256_per_s']:,.0f}", f"{row['batch256_x_keras']:.2f}")
        console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path, help="take trained runs from here (train the missing ones into it)")
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--calls", type=int, default=200, help="batch-1 calls timed per export")
    parser.add_argument("--batches", type=int, default=20, help="batch-256 calls timed per export")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "export.json")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir or Path(tmp) / "runs"
        rows = []
        for recipe in args.recipes:
            rows += bench_recipe(recipe, runs_dir, Path(tmp) / "exports", args.calls, args.batches)
    results = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
               "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        show(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
