"""Every recipe whose data is here, exported to every format that holds it, answers as its Keras model.

Each recipe is trained tiny (the zoo's run, shared with test_zoo) and exported in this
process to every registered format whose `problems()` are empty (float32). Then one fresh
process - nothing of the writing in memory, as a server or a phone starts - opens every
export alone (`opening.open_export`: the metadata inside or beside it) and runs it on 100
real test-split inputs. Each export's output must equal the trained model's
(`opening.open_run`) to 1e-5, and a classifier's `classes` / `scores` must rank the model's
own scores. The formats that cannot hold a recipe must refuse it on the command line with
exit 2 and write nothing.

One process answers for all recipes: a process per recipe would cost a TensorFlow start-up
each (about 5 s on 2 cores, 90 s over the zoo) and test nothing more - each export is
opened from its own files either way. An export that fails to open or run fails its own
recipe's test, with the fresh process's traceback.

Not here: cifar10, imdb_reviews and image-folder recipes (no data on this machine, see the
README); quantized exports (not float32: their accuracy is the formats' own tests').
"""

import json
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, recipes_with_data

EXAMPLES = 100
TOLERANCE = 1e-5

# Argument: a JSON list of {"name", "inputs", "answers", "exports"}. For each recipe, saves
# every export's outputs to `answers`; prints {name: {export path: traceback}} for those
# that failed to open or run.
FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys, traceback
    from pathlib import Path
    import numpy as np
    from dlrecipes.export.opening import open_export

    failed = {}
    for job in json.loads(Path(sys.argv[1]).read_text()):
        with np.load(job["inputs"]) as saved:
            inputs = {name: saved[name] for name in saved.files}
        answers, failed[job["name"]] = {}, {}
        for path in job["exports"]:
            try:
                opened = open_export(Path(path))
                for name, value in opened.engine(inputs).items():
                    value = np.asarray(value)
                    if value.dtype.kind in "OS":  # class names come back as bytes
                        value = np.char.decode(value.astype(bytes), "utf-8")
                    answers[f"{opened.meta['format']}/{name}"] = value
            except Exception:
                failed[job["name"]][path] = traceback.format_exc()
        np.savez(job["answers"], **answers)
    print(json.dumps(failed))
    """
)


@dataclass
class Case:
    """One recipe's run, exported, with the Keras model's outputs on its test inputs."""

    run: Path
    meta: dict  # the run's, from open_run
    exports: dict[str, Path]  # format -> export folder, float32
    refused: dict[str, list[str]]  # format -> its problems with this model
    reference: dict  # output name -> the Keras model's values
    inputs: Path  # .npz of the raw inputs
    answers: dict = field(default_factory=dict)  # format -> {output name: values}
    failed: dict = field(default_factory=dict)  # export path -> the fresh process's traceback


def real_inputs(served, meta: dict) -> dict:
    """EXAMPLES raw inputs from the run's test split (a GAN's: latent vectors), named as the
    exports' inputs; strings as str, for np.savez."""
    if meta["reads"] == "latent":
        (latent,) = meta["inputs"]
        rng = np.random.default_rng(0)
        return {latent["name"]: rng.standard_normal((EXAMPLES, latent["shape"][1])).astype("float32")}
    x, _ = next(iter(served.source.load()["test"].take(EXAMPLES).batch(EXAMPLES)))
    columns = x if isinstance(x, dict) else {meta["inputs"][0]["name"]: x}
    inputs = {}
    for name, value in columns.items():
        value = value.numpy()
        inputs[name] = np.char.decode(value.astype(bytes), "utf-8") if value.dtype.kind in "OS" else value
    assert all(len(v) == EXAMPLES for v in inputs.values()), f"the test split of {served.run.name} is too small"
    return inputs


def prepare(run: Path, folder: Path) -> Case:
    from dlrecipes.export import FORMATS, export_run
    from dlrecipes.export.opening import open_run
    from dlrecipes.export.serving import Served

    served = Served.load(run)
    problems = {fmt.name: fmt.problems(served, None) for fmt in FORMATS.values()}
    able = [name for name, found in problems.items() if not found]
    written = export_run(run, folder / "exports", formats=able)
    assert [(w.format, w.quantization) for w in written] == [(name, None) for name in able]
    opened = open_run(run)
    inputs = real_inputs(served, opened.meta)
    np.savez(folder / "inputs.npz", **inputs)
    reference = {name: value.astype("float64") for name, value in opened.engine(inputs).items()}
    return Case(run, opened.meta, {w.format: w.path for w in written},
                {name: found for name, found in problems.items() if found}, reference, folder / "inputs.npz")


def selected_recipes(request) -> list[str]:
    """The recipes of this module's tests that pytest will run (all, or those -k keeps)."""
    return [item.callspec.params["name"] for item in request.session.items
            if item.module is request.module and hasattr(item, "callspec")]


@pytest.fixture(scope="module")
def cases(request, zoo_run, tmp_path_factory) -> dict:
    """Each selected recipe's Case (or the traceback of its training or export), answered
    by one fresh process."""
    work = tmp_path_factory.mktemp("parity")
    prepared = {}
    for name in dict.fromkeys(selected_recipes(request)):
        try:
            (work / name).mkdir()
            prepared[name] = prepare(zoo_run(name), work / name)
        except Exception:  # that recipe's test fails with it; the others go on
            prepared[name] = traceback.format_exc()
    jobs = [{"name": name, "inputs": str(case.inputs), "answers": str(work / name / "answers.npz"),
             "exports": [str(path) for path in case.exports.values()]}
            for name, case in prepared.items() if isinstance(case, Case)]
    (work / "jobs.json").write_text(json.dumps(jobs))
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(work / "jobs.json")],
                           capture_output=True, text=True, timeout=900)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    failed = json.loads(fresh.stdout.strip().splitlines()[-1])
    for job in jobs:
        case = prepared[job["name"]]
        case.failed = failed[job["name"]]
        with np.load(job["answers"]) as saved:
            for key in saved.files:
                fmt, output = key.split("/", 1)
                case.answers.setdefault(fmt, {})[output] = saved[key]
    return prepared


def check_answers(fmt: str, answers: dict, case: Case) -> None:
    """One export's outputs against the Keras model's."""
    from dlrecipes.tasks import TASKS

    (main,) = case.reference  # open_run serves the model's own output only
    assert main in answers, f"{fmt} has no output '{main}', only {sorted(answers)}"
    assert answers[main].shape == case.reference[main].shape, fmt
    difference = float(np.abs(answers[main].astype("float64") - case.reference[main]).max())
    assert difference <= TOLERANCE, f"{fmt}: '{main}' differs from the Keras model's by {difference:.2e}"
    if "classes" in answers:
        scores = TASKS[case.meta["task"]].class_scores(case.reference[main])
        names = np.asarray(case.meta["classes"])
        np.testing.assert_array_equal(answers["classes"][:, 0], names[scores.argmax(-1)], err_msg=fmt)
        np.testing.assert_allclose(answers["scores"], np.sort(scores, axis=-1)[:, ::-1], atol=TOLERANCE, err_msg=fmt)
        assert sorted(answers["classes"][0]) == sorted(case.meta["classes"]), fmt


@pytest.mark.parametrize("name", recipes_with_data())
def test_every_export_answers_as_the_keras_model(name, cases, tmp_path):
    case = cases[name]
    if isinstance(case, str):
        pytest.fail(f"training or exporting {name} failed:\n{case}")
    assert "savedmodel" in case.exports  # every model goes to TF Serving
    assert not case.failed, "\n".join(f"{path}:\n{error}" for path, error in case.failed.items())
    assert sorted(case.answers) == sorted(case.exports)
    for fmt, answers in case.answers.items():
        check_answers(fmt, answers, case)

    for fmt in case.refused:
        refused = invoke("export", str(case.run), "--format", fmt, "--out", str(tmp_path / "refused"))
        assert refused.returncode == 2, (fmt, refused.stdout, refused.stderr)
        assert f"cannot export '{case.run.name}' to {fmt}" in refused.stderr
        assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir()), fmt
