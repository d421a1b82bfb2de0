"""Where we write: places that cannot be written are refused before any work, export
versions ignore stray entries, and a full disk fails an export cleanly.

The places are real: read-only and full tmpfs mounts (the suite runs as root; a tmpfs
that cannot be mounted fails the test rather than skipping what it checks), a path
through a file, names too long for the file system.
"""

import errno
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SMALL, invoke
from dlrecipes.errors import is_disk_full
from dlrecipes.writable import require_writable_dir

FAST = 2.0  # seconds: a refusal before any data or model is loaded (loading takes longer)


@pytest.fixture
def mount(tmp_path):
    """mount(path, options): a fresh tmpfs at `path` (created); all unmounted after the test."""
    mounted = []

    def mount_at(path, options):
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"cannot mount a tmpfs (these tests need root): {done.stderr}"
        mounted.append(path)
        return path

    yield mount_at
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def read_only(mount, tmp_path):
    return mount(tmp_path / "read-only", "ro,size=1m")


def timed(*args):
    import tensorflow  # noqa: F401  (imported once, outside the timing: it is no work of the command)

    start = time.monotonic()
    result = invoke(*args)
    return result, time.monotonic() - start


def refused(result, *words):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "failed:" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_train_refuses_a_read_only_runs_folder_before_loading_data(read_only):
    result, seconds = timed("train", "mnist-dnn", "--runs-dir", str(read_only))
    refused(result, str(read_only), "read-only", "--runs-dir")
    assert seconds < FAST
    assert list(read_only.iterdir()) == []


def test_lr_find_and_inspect_refuse_a_read_only_out_before_loading_data(read_only):
    plot = read_only / "lr.png"
    result, seconds = timed("lr-find", "mnist-dnn", *SMALL, "--out", str(plot))
    refused(result, str(plot), "read-only file system", "--out")
    assert seconds < FAST

    grid = read_only / "grid.png"
    result, seconds = timed("data", "inspect", "mnist-dnn", *SMALL, "--grid", str(grid))
    refused(result, str(grid), "read-only file system", "--grid")
    assert seconds < FAST


def test_sample_and_export_refuse_a_read_only_out(read_only, trained_run):
    # Checked before the model is loaded: a classifier's run shows it (its "not a GAN"
    # refusal needs the model, so it would come second).
    result, seconds = timed("sample", str(trained_run), "--out", str(read_only / "grid.png"))
    refused(result, str(read_only), "read-only file system", "--out")
    assert seconds < FAST

    for out in (read_only, read_only / "exports"):
        result, seconds = timed("export", str(trained_run), "--out", str(out))
        refused(result, str(out), "read-only file system", "--out")
        assert seconds < FAST
    assert list(read_only.iterdir()) == []


def test_a_read_only_model_folder_is_refused(mount, tmp_path, trained_run):
    exports = tmp_path / "exports"
    mount(exports / "mnist-dnn", "ro,size=1m")
    result = invoke("export", str(trained_run), "--out", str(exports))
    refused(result, "model folder", str(exports / "mnist-dnn"), "read-only file system")


def test_a_path_through_a_file_or_onto_a_folder_is_refused(tmp_path, trained_run):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where a folder should be")
    refused(invoke("export", str(trained_run), "--out", str(blocker)), str(blocker), "is a file, not a folder")
    refused(invoke("export", str(trained_run), "--out", str(blocker / "exports")), str(blocker), "is a file")
    refused(invoke("lr-find", "mnist-dnn", "--out", str(blocker / "lr.png")), str(blocker), "is a file")
    refused(invoke("data", "inspect", "mnist-dnn", "--grid", str(blocker / "sub" / "g.png")), str(blocker), "is a file")
    refused(invoke("sample", str(trained_run), "--out", str(blocker / "s.png")), str(blocker), "is a file")

    folder = tmp_path / "plots.png"
    folder.mkdir()
    refused(invoke("lr-find", "mnist-dnn", "--out", str(folder)), str(folder), "is a folder")
    refused(invoke("lr-find", "mnist-dnn", "--out", str(tmp_path / "plot.jpg")), "does not end in .png")
    refused(invoke("lr-find", "mnist-dnn", "--out", str(tmp_path / "missing" / "lr.png")), "does not exist")
    long_name = tmp_path / ("x" * 300) / "lr.png"
    refused(invoke("lr-find", "mnist-dnn", "--out", str(long_name)), "too long")
    refused(invoke("export", str(trained_run), "--out", str(tmp_path / ("x" * 300))), "too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "plots.png"]


def test_the_check_creates_nothing_and_leaves_no_probe(tmp_path):
    require_writable_dir(tmp_path / "runs" / "deeper", option="--runs-dir")
    require_writable_dir(tmp_path, option="--runs-dir")
    assert list(tmp_path.iterdir()) == []


def test_stray_entries_neither_block_nor_count_as_versions(tmp_path, trained_run):
    exports = tmp_path / "exports"
    model_dir = exports / "mnist-dnn"
    assert invoke("export", str(trained_run), "--out", str(exports), "--version", "2").returncode == 0
    (model_dir / "3").write_text("a stray file")
    (model_dir / "4").mkdir()
    (model_dir / "4" / "notes.txt").write_text("a folder without saved_model.pb")

    result = invoke("export", str(trained_run), "--out", str(exports))
    assert result.returncode == 0, result.stderr
    assert (model_dir / "5" / "saved_model.pb").is_file()  # after 2, past the taken names 3 and 4
    assert sorted(p.name for p in model_dir.iterdir()) == ["2", "3", "4", "5"]  # no temporary folder
    assert (model_dir / "3").read_text() == "a stray file"

    refused(invoke("export", str(trained_run), "--out", str(exports), "--version", "3"),
            str(model_dir / "3"), "is a file, not a saved model", "--version")
    refused(invoke("export", str(trained_run), "--out", str(exports), "--version", "4"),
            "a folder without saved_model.pb")
    refused(invoke("export", str(trained_run), "--out", str(exports), "--version", "5"), "already exists")


def test_a_full_disk_fails_the_export_with_one_message_and_leaves_nothing(mount, tmp_path, trained_run):
    full = mount(tmp_path / "small-disk", "size=256k")  # the model's weights alone are larger
    (full / "kept.txt").write_text("here before the export")
    with pytest.raises(OSError) as filling:
        (full / "filler").write_bytes(b"\0" * (1 << 20))
    assert is_disk_full(filling.value) and filling.value.errno == errno.ENOSPC
    (full / "filler").unlink()

    result = invoke("export", str(trained_run), "--out", str(full / "exports"))
    assert result.returncode == 1, result.stderr
    assert "no space left on device while exporting" in result.stderr
    assert str(full / "exports" / "mnist-dnn" / "1") in result.stderr and "--out" in result.stderr
    assert "Traceback" not in result.stderr and "failed:" not in result.stderr
    assert [p.name for p in full.iterdir()] == ["kept.txt"]  # no temporary or empty folders


def test_a_re_export_replaces_an_earlier_export_and_nothing_else(tmp_path, trained_run):
    exports = tmp_path / "exports"
    model_dir = exports / "mnist-dnn"
    assert invoke("export", str(trained_run), "--format", "keras", "--out", str(exports)).returncode == 0
    again = invoke("export", str(trained_run), "--format", "KERAS", "--out", str(exports), "--json")  # any case
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["exports"][0]["replaced"] is True
    assert sorted(p.name for p in (model_dir / "keras").iterdir()) == ["metadata.json", "model.keras"]

    # Each name below is held by something that is no earlier export of its format.
    (model_dir / "onnx").mkdir()
    (model_dir / "onnx" / "my-notes.txt").write_text("mine")
    (model_dir / "litert").mkdir()
    (model_dir / "litert" / "README").write_text("mine")
    (model_dir / "litert-int8").mkdir()
    (model_dir / "litert-float16").symlink_to(model_dir / "keras")
    other = exports / "other"
    other.mkdir()
    (other / "keras").write_text("a file")
    (other / "litert").mkdir()  # a keras export's metadata beside a file named as LiteRT's
    shutil.copy(model_dir / "keras" / "metadata.json", other / "litert" / "metadata.json")
    (other / "litert" / "model.tflite").write_bytes(b"")
    (other / "onnx").mkdir()
    (other / "onnx" / "model.onnx").write_bytes(b"")
    before = {p: (p.read_bytes() if p.is_file() else None) for p in exports.rglob("*")}
    cases = [
        (["--format", "onnx"], model_dir / "onnx", "a folder holding my-notes.txt"),
        (["--format", "litert"], model_dir / "litert", "a folder holding README"),
        (["--format", "litert", "--quantize", "int8"], model_dir / "litert-int8", "an empty folder"),
        (["--format", "litert", "--quantize", "float16"], model_dir / "litert-float16", "a symbolic link"),
        (["--format", "keras", "--name", "other"], other / "keras", "a file"),
        (["--format", "litert", "--name", "other"], other / "litert", "metadata.json is not that of a litert export"),
        (["--format", "onnx", "--name", "other"], other / "onnx", "a folder without metadata.json"),
    ]
    for options, held, kind in cases:
        result, seconds = timed("export", str(trained_run), "--out", str(exports), *options)
        refused(result, kind, "not an earlier", f"where: {held}", "move it away")
        assert seconds < FAST  # before the model is loaded
    # `all` checks once it knows the formats the model goes to: still before anything is written.
    refused(invoke("export", str(trained_run), "--out", str(exports), "--format", "all"), "a folder holding README")
    assert {p: (p.read_bytes() if p.is_file() else None) for p in exports.rglob("*")} == before  # nothing touched


def test_name_is_one_folder_name(tmp_path, trained_run):
    exports = tmp_path / "exports"
    for bad in ("../evil", "/evil-absolute", "a/b", "..", ".", "", "  ", "a\nb", "x" * 256):
        result = invoke("export", str(trained_run), "--out", str(exports), "--name", bad, "--format", "onnx")
        refused(result, "cannot be a model folder's name", "where: --name")
    assert list(tmp_path.iterdir()) == [] and not Path("/evil-absolute").exists()

    exports.mkdir()
    (exports / "taken").write_text("a file where the model folder would go")
    refused(invoke("export", str(trained_run), "--out", str(exports), "--name", "taken"), "is a file", "where: --name")


def test_version_needs_a_savedmodel_and_fits_in_an_int64(tmp_path, trained_run):
    from dlrecipes.export.savedmodel import MAX_VERSION, versions

    exports = tmp_path / "exports"
    refused(invoke("export", str(trained_run), "--out", str(exports), "--version", "5", "--format", "ONNX,LiteRT"),
            "savedmodel is not among the formats (onnx, litert)", "where: --version")
    refused(invoke("export", str(trained_run), "--out", str(exports), "--version", str(MAX_VERSION + 1)),
            "out of range", str(MAX_VERSION), "where: --version")
    assert not exports.exists()

    model_dir = exports / "mnist-dnn"
    for name in (str(MAX_VERSION), "99999999999999999999"):  # TF Serving reads the first, not the second
        (model_dir / name).mkdir(parents=True)
        (model_dir / name / "saved_model.pb").write_bytes(b"")
    assert versions(model_dir) == [MAX_VERSION]
    refused(invoke("export", str(trained_run), "--out", str(exports)), "no free version", f"where: {model_dir}")


def test_a_full_tmpdir_does_not_stop_a_litert_export(mount, tmp_path, trained_run, monkeypatch):
    # LiteRT's converter reads a SavedModel written for it: inside the export's own
    # temporary folder under --out, so only --out's disk needs room.
    full = mount(tmp_path / "full-tmp", "size=64k")
    with pytest.raises(OSError) as filling:
        (full / "filler").write_bytes(b"\0" * (1 << 20))
    assert is_disk_full(filling.value)
    monkeypatch.setenv("TMPDIR", str(full))
    monkeypatch.setattr(tempfile, "tempdir", str(full))  # what Python's tempfile read from TMPDIR at start
    result = invoke("export", str(trained_run), "--format", "litert", "--out", str(tmp_path / "exports"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "exports" / "mnist-dnn" / "litert"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.tflite"]  # no intermediate left
    assert json.loads((folder / "metadata.json").read_text())["files"] == ["model.tflite"]
