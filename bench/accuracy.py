"""Train recipes on their real data and compare each test metric with its stated target.

    python bench/accuracy.py                 # every recipe whose data is on this machine
    python bench/accuracy.py mnist-dnn ...   # just these

Each recipe trains in a fresh `dlrecipes train` process (as a user runs it) into a
temporary runs folder. Prints a Markdown table (the README's recipe table) and writes it,
with the raw figures as JSON, to bench/results/.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dlrecipes.data import source_of  # noqa: E402
from dlrecipes.loader import all_recipes, load_recipe# noqa: E402


def data_present(recipe) -> bool:
    return source_of(recipe).is_local()


def bench(name: str, runs_dir: Path) -> dict:
    recipe = load_recipe(name).recipe
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "dlrecipes", "train", name, "--runs-dir", str(runs_dir)],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    row = {"recipe": name, "target": str(recipe.target), "wall_s": round(wall, 1)}
    source = source_of(recipe)
    if hasattr(source, "naive_mae"):  # a forecast must beat "same as the last value"
        row["baseline"] = f"naive forecast mae {source.naive_mae():.4f}"
    if hasattr(source, "baselines"):  # a table: majority class, training mean, linear fit
        row["baseline"] = ", ".join(f"{k} {v:.4f}" for k, v in source.baselines().items())
    if result.returncode != 0:
        return {**row, "error": result.stderr.strip().splitlines()[-1]}
    run = max((p for p in runs_dir.iterdir() if p.name.startswith(name)), key=lambda p: p.stat().st_mtime)
    metrics = json.loads((run / "metrics.json").read_text())
    value = metrics["test"][recipe.target.metric]
    return {
        **row,
        "value": round(value, 4),
        "epochs": metrics["epochs"],
        "train_s": json.loads((run / "run.json").read_text())["train_seconds"],
        "met": recipe.target.reached(value),
    }


def main(names: list[str]) -> int:
    # A GAN states no number to reach (bench/gan.py judges it); transfer recipes need their
    # source run first (bench/transfer.py).
    names = names or [
        n for n in all_recipes()
        if (r := load_recipe(n).recipe).target is not None and not r.model.init_from and data_present(r)
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"training {name} ...", file=sys.stderr, flush=True)
            rows.append(bench(name, Path(tmp)))
    machine = f"{platform.machine()}, {subprocess.os.cpu_count()} cores, {platform.python_version()}"
    lines = [
        f"Measured {date.today().isoformat()} on {machine} (CPU only).",
        "",
        "| recipe | target (test) | reached | epochs | train time | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['recipe']} | {r['target']} | failed: {r['error']} | | | {r['wall_s']} s |")
        else:
            mark = "yes" if r["met"] else "**no**"
            baseline = f"; {r['baseline']}" if "baseline" in r else ""
            lines.append(
                f"| {r['recipe']} | {r['target']}{baseline} | {r['value']:.4f} ({mark}) | {r['epochs']} "
                f"| {r['train_s']:.0f} s | {r['wall_s']:.0f} s |"
            )
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "accuracy.md").write_text(table + "\n")
    (out / "accuracy.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r.get("met") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
