"""TensorFlow's start-up noise kept off the user's screen.

Loading TensorFlow's C++ libraries writes notes straight to file descriptor 2 before its
logging is set up, so TF_CPP_MIN_LOG_LEVEL does not silence them (TensorFlow 2.21):
"WARNING: All log messages before absl::InitializeLog() is called...", oneDNN's
`port.cc`, the missing CUDA driver's `cudart_stub.cc` - twice, once per library that
carries its own copy of the logging - and on other machines CPU features, cuInit and CUDA
plugin registrations. All of them come during `import tensorflow` (measured: nothing
later, the device query included, bypasses the level). `install()` makes that first
import, wherever it happens (keras, tensorflow_datasets and dlrecipes import TensorFlow
lazily, inside functions), run with descriptor 2 pointed at a temporary file, and passes
on what it caught less those known lines: an error while loading still shows.

What TensorFlow logs later obeys TF_CPP_MIN_LOG_LEVEL, which `install()` sets to 3 unless
the user set it (the cpu_feature_guard note and the cuInit error of a machine without a
GPU are below that level). `dlrecipes --verbose` calls `uninstall()`: everything shows, and
`verbose()` tells other libraries' quieting (MLflow's INFO lines, dlrecipes.tracking) so.
"""

from __future__ import annotations

import contextlib
import logging
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"

# The known notes: (the C++ file that logs it, words of its message). A line from one of
# these files that says something else is passed on.
NOISE = (
    ("port.cc", "oneDNN custom operations are on"),
    ("cudart_stub.cc", "Could not find cuda drivers"),
    ("cpu_feature_guard.cc", "This TensorFlow binary is optimized"),
    ("cuda_platform.cc", "failed call to cuInit"),
    ("cuda_executor.cc", "failed call to cuInit"),
    ("cuda_diagnostics.cc", ""),  # what it found of a driver, after a failed cuInit
    ("cuda_dnn.cc", "Unable to register"),
    ("cuda_fft.cc", "Unable to register"),
    ("cuda_blas.cc", "Unable to register"),
    ("computation_placer.cc", "already registered"),
)
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# cpu_feature_guard's message goes on over a second line.
CONTINUATION = "To enable the following instructions:"
# absl's "I0000 00:00:1796137532.747948    4576 port.cc:153] text", and older TensorFlow's
# "2024-01-01 12:00:00.000000: I tensorflow/core/platform/cpu_feature_guard.cc:182] text".
LOG_LINE = re.compile(r"^(?:[\d-]+ [\d:.]+: )?[IWE][\d :.]*\s(?:\S*/)?(?P<file>[\w.]+\.cc):\d+\] (?P<text>.*)")

_we_set_level = False
_verbose = False  # `dlrecipes --verbose`: uninstall() was called


def install() -> None:
    """Quiet the first `import tensorflow` of this process (see the module's docstring)."""
    global _we_set_level
    if LEVEL_VARIABLE not in os.environ:
        os.environ[LEVEL_VARIABLE] = "3"
        _we_set_level = True
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def uninstall() -> None:
    """TensorFlow's messages as TensorFlow prints them (`--verbose`)."""
    global _we_set_level, _verbose
    _verbose = True
    _remove_finder()
    if _we_set_level:
        os.environ.pop(LEVEL_VARIABLE, None)
        _we_set_level = False
_verbose = False  # `dlrecipes --verbose`: uninstall() was called


def verbose() -> bool:
    """Whether this process was asked for everything (`dlrecipes --verbose`)."""
    return _verbose


def is_noise(line: str, previous_was_noise: bool = False) -> bool:
    """Whether one line of descriptor 2 is a known start-up note (or the rest of one)."""
    line = line.rstrip("\r\n")
    if line == PREAMBLE:
        return True
    if previous_was_noise and line.startswith(CONTINUATION):
        return True
    match = LOG_LINE.match(line)
    return bool(match) and any(match["file"] == file and words in match["text"] for file, words in NOISE)


def without_noise(text: bytes) -> bytes:
    """`text` less its known start-up notes; every other line as it came."""
    kept, previous = [], False
    for line in text.splitlines(keepends=True):
        previous = is_noise(line.decode(errors="replace"), previous)
        if not previous:
            kept.append(line)
    return b"".join(kept)


@contextlib.contextmanager
def silenced_stderr():
    """Descriptor 2 to /dev/null for the duration (unless --verbose): for C++ libraries whose
    every line is progress (LiteRT's converter and interpreter), where `filtered_stderr`
    would have nothing worth passing on."""
    if verbose():
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        _restore_stderr(saved)


@contextlib.contextmanager
def filtered_stderr():
    """Descriptor 2 into a temporary file for the duration, then what it caught, less the
    noise, onto the real one. Python's own sys.stderr writes to descriptor 2 as well, so a
    warning printed meanwhile is passed on too, in its place among the others."""
    capture = _start_capture()
    if capture is None:
        yield
        return
    saved, caught = capture
    try:
        os.dup2(caught.fileno(), 2)
        yield
    finally:
        _restore_stderr(saved)
        caught.seek(0)
        _write_all(2, without_noise(caught.read()))
        caught.close()


def _restore_stderr(saved: int) -> None:
    """Descriptor 2 back to `saved` (a copy made by os.dup(2)), once what Python buffered
    for the redirected one has gone there."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


def _start_capture():
    """(a copy of descriptor 2, an open temporary file), or None where there is no
    descriptor 2 (a daemon) or no room for a temporary file: then nothing is filtered."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        caught = tempfile.TemporaryFile()
    except OSError:
        return None
    try:
        return os.dup(2), caught
    except OSError:
        caught.close()
        return None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the finders after it do, with a loader that loads it inside
    filtered_stderr. Asked without loading (importlib.util.find_spec, as etils' paths under
    tensorflow_datasets ask whether TensorFlow is there), it stays for the import that follows."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def _remove_finder() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _QuietFinder)]


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # is_package, get_resource_reader...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        _remove_finder()  # the libraries load once, with this first import
        # TensorFlow and importlib.resources see the module's own loader, not this one.
        module.__loader__ = module.__spec__.loader = self.loader
        with filtered_stderr():
            self.loader.exec_module(module)


class _NotRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def quiet_retracing():
    """Without TensorFlow's warning that its functions are traced again: each training of
    one process builds new models, whose functions are traced once each, as they must be,
    and from the third training on TensorFlow takes that for a loop that retraces (folds,
    a search's trials)."""
    logger, quiet = logging.getLogger("tensorflow"), _NotRetracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
