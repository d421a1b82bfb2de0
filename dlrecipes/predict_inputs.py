"""What `predict` reads: files (and `--text`) turned into a model's inputs, one reader per kind.

The model's metadata (an export's `metadata.json`, or the same built from a run) says what
it reads (`reads`), each input's name, shape and dtype (`inputs`) and how its data source
turned raw examples into inputs (`source`: a table's target, a series' column and window,
an image folder's size). A reader turns one file into `Examples`: numpy arrays keyed by
input name, where each example came from, and the answer where the file holds it (a
table's target column, a series' later values), so `predict` can also score the model.

| reads      | a file is                                                             |
|------------|-----------------------------------------------------------------------|
| images     | one image (PNG, JPEG, GIF, BMP), converted to the input's size and channels; or a `.npy` array of images |
| text       | one text per non-empty line (`-`: standard input); `--text` adds one  |
| table      | CSV rows under a header naming the training columns, in any order     |
| sequences  | a series (CSV column, or one number per line): one example per window |
| vectors, arrays | a `.npy` array of shape (n, *input shape)                        |
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dlrecipes.errors import RecipeError

STDIN = "-"


@dataclass
class Examples:
    """Inputs read from the files: one row per example in each array."""

    where: list[str]  # each example's origin, for people: "rows.csv, line 3"
    inputs: dict  # input name -> numpy array
    shown: list[dict] = field(default_factory=list)  # per example, what is printed with it (its text)
    targets: list | None = None  # per example its known answer (class name or number), or None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.where)


def read(meta: dict, files: list[Path], texts: list[str]) -> Examples:
    """Every example of every file (in order), then each `--text`."""
    kind = meta["reads"]
    if kind not in READERS:
        raise RecipeError(f"this model reads '{kind}', which this version of dlrecipes cannot feed it.",
                          fix="upgrade dlrecipes, or call the model's runtime with your inputs directly")
    if texts and kind != "text":
        raise RecipeError(f"--text is for text models; this model reads {kind}.", where="--text",
                          fix=f"give {WHAT[kind]}")
    if not files and not texts:
        raise RecipeError("nothing to predict on.", fix=f"give {WHAT[kind]}")
    stdin = [f for f in files if str(f) == STDIN]
    if stdin and kind != "text":
        raise RecipeError("'-' (standard input) is for text models.", where="-", fix=f"give {WHAT[kind]}")
    if len(stdin) > 1:
        raise RecipeError("'-' (standard input) is given more than once.", where="-", fix="give it once")
    folders = [str(f) for f in files if f.is_dir()]
    if folders:
        raise RecipeError(f"'{folders[0]}' is a folder; give the files in it.", where=folders[0],
                          fix=f"e.g. {Path(folders[0]) / '*'}")
    missing = [str(f) for f in files if str(f) != STDIN and not f.is_file()]
    if missing:
        raise RecipeError(f"no such file: {', '.join(missing)}.", fix="check the paths")
    parts = [_read_file(kind, meta, path) for path in files]
    if texts:
        parts.append(_texts(meta, texts))
    return _joined(parts)


def _read_file(kind: str, meta: dict, path: Path) -> Examples:
    reader = read_array if path.suffix.lower() == ".npy" and kind in ARRAY_KINDS else READERS[kind]
    try:
        return reader(meta, path)
    except OSError as err:  # permissions, a file gone meanwhile: the reader's own errors are RecipeErrors
        raise RecipeError(f"cannot read '{path}': {err.strerror or err}.", where=str(path)) from None


def _joined(parts: list[Examples]) -> Examples:
    import numpy as np

    inputs = {name: np.concatenate([p.inputs[name] for p in parts]) for name in parts[0].inputs}
    known = any(p.targets is not None for p in parts)
    targets = [t for p in parts for t in (p.targets or [None] * len(p))] if known else None
    return Examples([w for p in parts for w in p.where], inputs,
                    [s for p in parts for s in (p.shown or [{}] * len(p))], targets,
                    list(dict.fromkeys(n for p in parts for n in p.notes)))


def _only_input(meta: dict) -> dict:
    return meta["inputs"][0]


# --- images -------------------------------------------------------------------------------


def read_image(meta: dict, path: Path) -> Examples:
    """One image file, converted the way the data source converts training images: decoded
    to the input's channels, resized to its size, rounded to uint8. An export that decodes
    files itself (an input of dtype string) gets the file's bytes."""
    import numpy as np

    spec = _only_input(meta)
    if spec["dtype"] == "string":
        encoded = _encoded(path, _encoded_channels(meta))
        return Examples([str(path)], {spec["name"]: np.array([encoded], dtype=object)})
    height, width, channels = spec["shape"][1:]
    image, _ = _decode(path, channels)
    return Examples([str(path)], {spec["name"]: _resized(image, (height, width))[None].astype(spec["dtype"])})


def _encoded_channels(meta: dict) -> int:
    """The channels an export that decodes files itself makes (its source's colour mode)."""
    from dlrecipes.data.image_folder import CHANNELS

    return CHANNELS.get((meta.get("source") or {}).get("color_mode"), 0)


def _decode(path: Path, channels: int):
    """(uint8 image with `channels` channels, whether the decoder converted it itself).
    GIF and BMP decoders cannot make grayscale (nor GIF RGBA): those are converted after."""
    import tensorflow as tf

    try:
        data = tf.io.read_file(str(path))
        try:
            return tf.io.decode_image(data, channels=channels, expand_animations=False), True
        except tf.errors.InvalidArgumentError:
            image = tf.io.decode_image(data, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.PermissionDeniedError) as err:
        raise RecipeError(f"cannot read '{path}' as an image: {_tf_message(err)}", where=str(path),
                          fix="give PNG, JPEG, GIF or BMP files") from None
    return _channels(image, channels), False


def _tf_message(error) -> str:
    """A TensorFlow op error's own words, without the op's name around them."""
    text = error.message.splitlines()[0] if error.message else type(error).__name__
    return re.sub(r"\s*\[Op:.*$", "", re.sub(r"\{\{.*?\}\}\s*", "", text)).strip()


def _channels(image, channels: int):
    import tensorflow as tf

    have = image.shape[-1]
    if channels in (0, have):
        return image
    if channels == 1:
        return tf.image.rgb_to_grayscale(image[..., :3]) if have >= 3 else image[..., :1]
    rgb = image[..., :3] if have >= 3 else tf.image.grayscale_to_rgb(image[..., :1])
    if channels == 3:
        return rgb
    return tf.concat([rgb, tf.fill([*rgb.shape[:2], 1], tf.constant(255, tf.uint8))], axis=-1)


def _resized(image, size):
    """As the image-folder source resizes (bilinear, rounded, clipped): the same pixels in
    a run and in an export that decodes files itself."""
    import tensorflow as tf

    resized = tf.image.resize(image, size)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()


def _encoded(path: Path, channels: int) -> bytes:
    """The file's bytes, checked to decode; re-encoded as PNG where the export's decoder could
    not make its channels (a GIF for a grayscale model), so it reads the pixels a run reads."""
    import tensorflow as tf

    image, direct = _decode(path, channels)
    return path.read_bytes() if direct else tf.io.encode_png(image).numpy()


# --- text ---------------------------------------------------------------------------------


def read_lines(meta: dict, path: Path) -> Examples:
    """Each non-empty line of a text file (`-`: standard input) is one text."""
    import numpy as np

    shown_path = "stdin" if str(path) == STDIN else str(path)
    try:
        text = sys.stdin.read() if str(path) == STDIN else path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(f"cannot read '{shown_path}' as text: it is not UTF-8 ({err.reason} at byte {err.start}).",
                          where=shown_path, fix="give text files, one text per line, saved as UTF-8") from None
    except OSError as err:
        raise RecipeError(f"cannot read '{shown_path}': {err.strerror}.", where=shown_path) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise RecipeError(f"'{shown_path}' has no text: every line is empty.", where=shown_path,
                          fix="give one text per line")
    spec = _only_input(meta)
    return Examples([f"{shown_path}:{n}" for n, _ in lines], {spec["name"]: np.array([t for _, t in lines], object)},
                    [{"text": t} for _, t in lines])


def _texts(meta: dict, texts: list[str]) -> Examples:
    import numpy as np

    empty = [i for i, text in enumerate(texts, start=1) if not text.strip()]
    if empty:
        raise RecipeError(f"--text {empty[0]} is empty.", where="--text", fix="give a text to classify")
    spec = _only_input(meta)
    return Examples([f"--text {i}" for i in range(1, len(texts) + 1)], {spec["name"]: np.array(texts, object)},
                    [{"text": t} for t in texts])


# --- tables -------------------------------------------------------------------------------


def read_rows(meta: dict, path: Path) -> Examples:
    """CSV rows with a header. The feature columns may come in any order; other columns are
    ignored (a training file has its excluded columns); a missing feature is refused. The
    target column, where present, gives each row's answer (an empty cell: none)."""
    import numpy as np

    from dlrecipes.data.files import csv_records

    source = meta.get("source") or {}
    columns, target = source.get("columns") or {}, source.get("target")
    records = [(line, row) for line, row in csv_records(path, "predict") if row]
    if not records:
        raise RecipeError(f"'{path}' is empty: a CSV file with a header is needed.", where=str(path),
                          fix=f"first line: the columns, e.g. {','.join(columns)}")
    header = [name.strip() for name in records[0][1]]
    missing = [name for name in columns if name not in header]
    if missing:
        raise RecipeError(f"'{path}' has no column{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
                          where=f"{path}, line {records[0][0]} (the header)",
                          fix=f"the model takes the columns {', '.join(columns)} (any order; the target "
                              f"'{target}' may be there too)")
    if len(records) < 2:
        raise RecipeError(f"'{path}' has no rows under its header.", where=str(path), fix="add rows")
    extra = [name for name in header if name not in columns and name != target]
    values = {name: [] for name in columns}
    answers = [] if target in header else None
    lines = []
    for line, row in records[1:]:
        if len(row) != len(header):
            raise RecipeError(f"line {line} of {path} has {len(row)} fields, the header {len(header)}.",
                              where=f"{path}, line {line}", fix="every row needs one value per column")
        cells = dict(zip(header, (cell.strip() for cell in row)))
        for name, kind in columns.items():
            values[name].append(_numeric_cell(cells[name], name, path, line) if kind == "numeric" else cells[name])
        if answers is not None:
            answers.append(_answer(cells[target], meta, target, path, line))
        lines.append(line)
    dtypes = {spec["name"]: spec["dtype"] for spec in meta["inputs"]}
    inputs = {name: np.array(column, "float32" if dtypes[name] == "float32" else object)
              for name, column in values.items()}
    notes = [f"{path}: column{'s' if len(extra) > 1 else ''} {', '.join(extra)} ignored (not a feature of the model)"
             ] if extra else []
    return Examples([f"{path}, line {line}" for line in lines], inputs, targets=answers, notes=notes)


def _numeric_cell(cell: str, name: str, path: Path, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        held = "nothing" if cell == "" else repr(cell)
        raise RecipeError(f"line {line} of {path}: column '{name}' holds {held}, not a (finite) number.",
                          where=f"{path}, line {line}, column '{name}'",
                          fix=f"the model was trained on numbers in '{name}': give one")
    return value


def _answer(cell: str, meta: dict, target: str, path: Path, line: int):
    """A target cell as the answer: a class name of the model, or a number (None: empty)."""
    if cell == "":
        return None
    classes = meta.get("classes")
    if classes is not None:
        if cell not in classes:
            raise RecipeError(f"line {line} of {path}: the target '{target}' holds {cell!r}, which is not one of "
                              f"the model's classes ({', '.join(classes)}).", where=f"{path}, line {line}",
                              fix=f"fix the cell, leave it empty, or drop the '{target}' column")
        return cell
    try:
        return float(cell)
    except ValueError:
        raise RecipeError(f"line {line} of {path}: the target '{target}' holds {cell!r}, not a number.",
                          where=f"{path}, line {line}", fix="fix the cell, or leave it empty") from None


# --- a time series ------------------------------------------------------------------------


def read_series(meta: dict, path: Path) -> Examples:
    """A series of consecutive values: a CSV column with the training column's name, or one
    number per line. Every full window of `window` values is one example; its answer is the
    value `horizon` steps after the window's end, where the file goes that far."""
    import numpy as np

    from dlrecipes.data.files import csv_records

    source = meta["source"]
    column, window, horizon = source["column"], source["window"], source["horizon"]
    records = [(line, row) for line, row in csv_records(path, "predict") if any(cell.strip() for cell in row)]
    if records and column in [cell.strip() for cell in records[0][1]]:
        index = [cell.strip() for cell in records[0][1]].index(column)
        records = records[1:]
    elif records and len(records[0][1]) == 1 and _number(records[0][1][0]) is not None:
        index = 0
    elif records:
        raise RecipeError(f"'{path}' has no column '{column}' and is not one number per line.",
                          where=f"{path}, line {records[0][0]}",
                          fix=f"give a CSV file whose header names the series' column '{column}', or one value per line")
    values = []
    for line, row in records:
        value = _number(row[index]) if index < len(row) else None
        if value is None:
            held = repr(row[index]) if index < len(row) else "nothing"
            raise RecipeError(f"line {line} of {path}: '{column}' holds {held}, not a (finite) number.",
                              where=f"{path}, line {line}", fix="a series holds one number per row")
        values.append(value)
    if len(values) < window:
        raise RecipeError(f"'{path}' has {len(values)} value{'s' if len(values) != 1 else ''}, fewer than one window "
                          f"({window} consecutive values).", where=str(path),
                          fix=f"give at least {window} values: each window of {window} predicts the value "
                              f"{horizon} step{'s' if horizon > 1 else ''} after its end")
    series = np.asarray(values, "float32")
    starts = range(len(values) - window + 1)
    windows = np.stack([series[i:i + window] for i in starts])
    spec = _only_input(meta)
    answers = [values[i + window - 1 + horizon] if i + window - 1 + horizon < len(values) else None for i in starts]
    return Examples([f"{path}, values {i + 1}-{i + window}" for i in starts],
                    {spec["name"]: windows.reshape(len(windows), *spec["shape"][1:])}, targets=answers)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_sequences(meta: dict, path: Path) -> Examples:
    """A series where the source cut windows from one (a time series), else a `.npy` array."""
    if "window" in (meta.get("source") or {}):
        return read_series(meta, path)
    return read_array(meta, path)


# --- arrays -------------------------------------------------------------------------------


def read_array(meta: dict, path: Path) -> Examples:
    """A `.npy` array of examples, shaped (n, *input shape) - a missing last axis of 1 (the
    channel of grayscale images) is added - with numbers of the input's type."""
    import numpy as np

    spec = _only_input(meta)
    shape, dtype = tuple(spec["shape"][1:]), spec["dtype"]
    if dtype == "string":
        raise RecipeError(f"this model takes encoded image files; '{path}' is an array.", where=str(path),
                          fix="give PNG, JPEG, GIF or BMP files")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise RecipeError(f"cannot read '{path}' as a NumPy .npy array: {err}.", where=str(path),
                          fix="save the examples with numpy.save") from None
    if not isinstance(array, np.ndarray):
        raise RecipeError(f"'{path}' holds several arrays (an .npz archive); one array is needed.", where=str(path),
                          fix="save the examples alone with numpy.save(path, array)")
    if array.shape == shape or (shape[-1:] == (1,) and array.shape == shape[:-1]):
        array = array[None]  # one example
    if shape[-1:] == (1,) and array.shape[1:] == shape[:-1]:
        array = array[..., None]
    if array.shape[1:] != shape or len(array) == 0:
        raise RecipeError(f"'{path}' holds an array of shape {array.shape}; the model takes examples of shape "
                          f"{shape}, so it needs (n, {', '.join(map(str, shape))}) with n >= 1.", where=str(path),
                          fix="reshape the array, or check it is for this model")
    if array.dtype.kind not in "biuf" or (dtype == "uint8" and array.dtype.kind not in "biu"):
        wanted = "integers 0-255 (pixels)" if dtype == "uint8" else "numbers"
        raise RecipeError(f"'{path}' holds {array.dtype} values; the model takes {wanted}.", where=str(path),
                          fix=f"save the array as {dtype}")
    if dtype == "uint8" and array.size and (array.min() < 0 or array.max() > 255):
        raise RecipeError(f"'{path}' holds values from {array.min()} to {array.max()}; the model takes pixels 0-255.",
                          where=str(path), fix="give the raw pixels (uint8), not scaled ones")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RecipeError(f"'{path}' holds NaN or infinite values.", where=str(path), fix="give finite numbers")
    return Examples([f"{path}[{i}]" for i in range(len(array))], {spec["name"]: array.astype(dtype)})


READERS = {"images": read_image, "text": read_lines, "table": read_rows, "sequences": read_sequences,
           "vectors": read_array, "arrays": read_array}
ARRAY_KINDS = ("images", "sequences", "vectors", "arrays")
WHAT = {"images": "image files (PNG, JPEG, GIF, BMP) or a .npy array of images",
        "text": "text files (one text per line, '-': standard input) or --text",
        "table": "CSV files with a header naming the model's columns",
        "sequences": "a CSV file of consecutive values (or a .npy array of windows)",
        "vectors": "a .npy array of shape (n, features)", "arrays": "a .npy array of examples"}
