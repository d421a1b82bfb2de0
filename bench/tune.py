"""Hyperparameter search and cross-validation, measured through the command line.

Four measurements, each through `dlrecipes` processes as a user runs them:

    boston     `tune boston-housing-dnn` with TPE and the median pruner, then the same
               number of trials with the random sampler: time, share of pruned trials,
               best validation MAE; then `train best.yaml` of each against the hand recipe
               on the test split (MAE)
    pima       `train pima-diabetes-dnn --folds 5` for the hand recipe and for the best
               recipe of a TPE search over bench/spaces/pima.yaml: mean and spread of
               the validation AUC
    mnist      a short search over the learning rate and width of mnist-dnn, and where
               its best rate lands next to `lr-find`'s suggestion
    memory     peak RSS of `tune` after 1 trial and after 20 (KerasTuner's most reported
               problem is memory that grows with trials): the ratio

    python bench/tune.py [--trials 30] [--only boston pima mnist memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPACES = REPO / "bench" / "spaces"


def dlrecipes(*args: str, runs: Path) -> tuple[str, float, float]:
    """Run `dlrecipes ARGS`; its stdout, wall seconds and peak RSS in MiB (wait4: its own)."""
    started = time.time()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, "-m", "dlrecipes", *args, "--runs-dir", str(runs)], cwd=REPO,
                                   env=os.environ.copy(), stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise RuntimeError(f"dlrecipes {' '.join(args)} failed ({code}):\n{err.read()[-3000:]}")
        return out.read(), time.time() - started, usage.ru_maxrss / 1024


def tune(recipe: str, runs: Path, *extra: str) -> tuple[dict, float, float]:
    stdout, seconds, rss = dlrecipes("tune", recipe, "--json", *extra, runs=runs)
    return json.loads(stdout), seconds, rss


def summary(study: dict, seconds: float) -> dict:
    states = [t["state"] for t in study["trials"]]
    return {"trials": len(states), "complete": states.count("complete"), "pruned": states.count("pruned"),
            "pruned_share": round(states.count("pruned") / max(1, len(states)), 2),
            "best_value": study["best"]["value"] if study["best"] else None,
            "best_params": study["best"]["params"] if study["best"] else None,
            "best_yaml": study["best"]["recipe"] if study["best"] else None, "seconds": round(seconds, 1)}


def test_metric(recipe: str, runs: Path, metric: str, *extra: str) -> float:
    stdout, _, _ = dlrecipes("train", recipe, "--json", *extra, runs=runs)
    return json.loads(stdout)["metrics"]["test"][metric]


def boston(trials: int, work: Path) -> dict:
    result = {}
    for sampler in ("tpe", "random"):
        study, seconds = tune("boston-housing-dnn", work / sampler, "--trials", str(trials), "--sampler", sampler,
                              "--pruner", "median", "--seed", "0")[:2]
        row = summary(study, seconds)
        row["test_mae_of_best"] = test_metric(row["best_yaml"], work / f"{sampler}-best", "mae")
        result[sampler] = row
    result["hand_test_mae"] = test_metric("boston-housing-dnn", work / "hand", "mae")
    return result


def pima(trials: int, work: Path) -> dict:
    def folds(recipe: str, where: Path) -> dict:
        stdout, seconds, _ = dlrecipes("train", recipe, "--folds", "5", "--json", runs=where)
        cv = json.loads(stdout)
        return {"validation": cv.get("validation"), "seconds": round(seconds, 1)}

    study, seconds = tune("pima-diabetes-dnn", work / "tune", "--space", str(SPACES / "pima.yaml"),
                          "--trials", str(trials), "--seed", "0")[:2]
    found = summary(study, seconds)
    return {"search": found, "hand": folds("pima-diabetes-dnn", work / "hand"),
            "tuned": folds(found["best_yaml"], work / "tuned")}


def mnist(trials: int, work: Path) -> dict:
    short = ["--set", "data.splits.train=train[:16384]", "--set", "train.epochs=3"]
    study, seconds = tune("mnist-dnn", work / "tune", "--space", str(SPACES / "mnist-dnn.yaml"), "--trials", str(trials),
                          "--seed", "0", *short)[:2]
    found = summary(study, seconds)
    stdout, _, _ = dlrecipes("lr-find", "mnist-dnn", "--json", "--set", "data.splits.train=train[:16384]",
                             runs=work / "lr")
    return {"search": found, "lr_find": json.loads(stdout)}


def memory(work: Path) -> dict:
    tiny = ["--set", "train.epochs=5", "--pruner", "none", "--seed", "0"]
    peaks = {}
    for n in (1, 20):
        _, seconds, rss = tune("boston-housing-dnn", work / f"n{n}", "--trials", str(n), *tiny)
        peaks[n] = {"peak_rss_mib": round(rss), "seconds": round(seconds, 1)}
    peaks["ratio_20_over_1"] = round(peaks[20]["peak_rss_mib"] / peaks[1]["peak_rss_mib"], 2)
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="trials of each boston search")
    parser.add_argument("--pima-trials", type=int, default=15)
    parser.add_argument("--mnist-trials", type=int, default=6)
    parser.add_argument("--only", nargs="+", default=["boston", "pima", "mnist", "memory"])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tune.json")
    args = parser.parse_args()
    results = {"date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        steps = {"boston": lambda: boston(args.trials, work / "boston"),
                 "pima": lambda: pima(args.pima_trials, work / "pima"),
                 "mnist": lambda: mnist(args.mnist_trials, work / "mnist"),
                 "memory": lambda: memory(work / "memory")}
        for name in args.only:
            started = time.time()
            results[name] = steps[name]()
            results[name]["bench_seconds"] = round(time.time() - started, 1)
            print(f"== {name}\n{json.dumps(results[name], indent=2, default=str)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if "memory" in results:
        print(f"peak RSS after 20 trials / after 1: {results['memory']['ratio_20_over_1']}x (target <= 1.3x)")
    if "boston" in results:
        b = results["boston"]
        for sampler in ("tpe", "random"):
            print(f"boston {sampler}: {b[sampler]['trials']} trials in {b[sampler]['seconds']} s, "
                  f"{b[sampler]['pruned_share']:.0%} pruned, best val MAE {b[sampler]['best_value']:.3f}, "
                  f"test MAE of best.yaml {b[sampler]['test_mae_of_best']:.3f} (hand recipe {b['hand_test_mae']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
