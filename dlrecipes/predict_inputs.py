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

from dlrecipes.errors import RecipeError, closest, cut, did_you_mean

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
    if any(str(f) == STDIN for f in files) and kind != "text":
        raise RecipeError("'-' (standard input) is for text models.", where="-", fix=f"give {WHAT[kind]}")
    check_given(files, texts, kind)
    parts = [_read_file(kind, meta, path) for path in files]
    if texts:
        parts.append(_texts(meta, texts))
    return _joined(parts)


def check_given(files: list[Path], texts: list[str], kind: str | None = None) -> None:
    """What is wrong with the inputs whatever the model reads - none given, a folder, a file
    that is not there - checked before the model loads, so a typo costs no seconds."""
    if not files and not texts:
        raise RecipeError("nothing to predict on.", fix=f"give {WHAT[kind] if kind else ANY_INPUT}")
    if sum(str(f) == STDIN for f in files) > 1:
        raise RecipeError("'-' (standard input) is given more than once.", where="-", fix="give it once")
    folders = [str(f) for f in files if str(f) != STDIN and f.is_dir()]
    if folders:
        raise RecipeError(f"'{folders[0]}' is a folder; give the files in it.", where=folders[0],
                          fix=f"e.g. {Path(folders[0]) / '*'}")
    missing = [str(f) for f in files if str(f) != STDIN and not f.is_file()]
    if missing:
        raise RecipeError(f"no such file: {', '.join(missing)}.", fix="check the paths")


def _read_file(kind: str, meta: dict, path: Path) -> Examples:
    array = path.suffix.lower() == ".npy" and kind in ARRAY_KINDS
    reader = read_array if array else READERS[kind]
    try:
        if not array and _reads_text(kind, meta) and str(path) != STDIN:
            found = _file_kind(path)
            if found:
                raise RecipeError(f"this model reads {TEXT_KINDS[kind]}; '{path}' is {found}.", where=str(path),
                                  fix=f"give {WHAT[kind]}")
        return reader(meta, path)
    except OSError as err:  # permissions, a file gone meanwhile: the reader's own errors are RecipeErrors
        raise RecipeError(f"cannot read '{path}': {err.strerror or err}.", where=str(path)) from None


def _reads_text(kind: str, meta: dict) -> bool:
    """Whether the model's files are text (lines, CSV rows, a series), not images or arrays."""
    return kind in ("text", "table") or (kind == "sequences" and "window" in (meta.get("source") or {}))


# The first bytes of files that are no text, whatever their name says.
MAGIC = ((b"\x89PNG", "an image (PNG)"), (b"\xff\xd8\xff", "an image (JPEG)"), (b"GIF8", "an image (GIF)"),
         (b"II*\x00", "an image (TIFF)"), (b"MM\x00*", "an image (TIFF)"), (b"\x93NUMPY", "a NumPy array (.npy)"),
         (b"PK\x03\x04", "a zip archive (an .npz or .keras file?)"))


def _file_kind(path: Path) -> str | None:
    """What a file that is no text is ("an image (PNG)"), by its first bytes; None for anything else."""
    with open(path, "rb") as f:
        start = f.read(16)
    for magic, kind in MAGIC:
        if start.startswith(magic):
            return kind
    if start[:4] == b"RIFF" and start[8:12] == b"WEBP":
        return "an image (WebP)"
    if start[:2] == b"BM" and start[6:10] == b"\x00\x00\x00\x00":  # BMP's reserved bytes: "BMI,age" is a header
        return "an image (BMP)"
    return None


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
    if None in (height, width, channels):
        raise RecipeError(f"this model takes images of no fixed size ({spec['shape']}), which predict cannot "
                          "convert files to.", where=str(path), fix="give a .npy array of the model's inputs")
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
        kind = _file_kind(path)
        why = (f"it is {kind}" if kind and not kind.startswith("an image") else
               "it is a text file (this model reads images)" if _is_text(path) else _tf_message(err))
        raise RecipeError(f"cannot read '{path}' as an image: {why}", where=str(path),
                          fix="give PNG, JPEG, GIF or BMP files") from None
    return _channels(image, channels), False


def _is_text(path: Path) -> bool:
    """Whether the file starts as non-empty UTF-8 text does (a CSV given to an image model)."""
    import codecs

    try:
        with open(path, "rb") as f:
            start = f.read(4096)
        codecs.getincrementaldecoder("utf-8")().decode(start)  # not final: a character cut at byte 4096 is fine
    except (OSError, UnicodeDecodeError):
        return False
    return bool(start.strip()) and b"\x00" not in start


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
        # utf-8-sig: Windows editors start UTF-8 files with a byte-order mark, which is no part of the text.
        text = sys.stdin.read().removeprefix("\ufeff") if str(path) == STDIN else path.read_text(encoding="utf-8-sig")
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
    ignored (a training file has its excluded columns); a missing feature is refused, and so
    is a feature or the target named twice. The target column, where present, gives each
    row's answer (an empty cell: none). A numeric cell must be a finite number of the input's
    dtype (float32: 1e39 is none), a categorical cell one of the column's categories."""
    import numpy as np

    from dlrecipes.data.files import csv_records

    source = meta.get("source") or {}
    columns, target = source.get("columns") or {}, source.get("target")
    records = [(line, row) for line, row in csv_records(path, "predict") if row]
    if not records:
        raise RecipeError(f"'{path}' is empty: a CSV file with a header is needed.", where=str(path),
                          fix=f"first line: the columns, e.g. {','.join(columns)}")
    header = [name.strip() for name in records[0][1]]
    where_header = f"{path}, line {records[0][0]} (the header)"
    missing = [name for name in columns if name not in header]
    if missing:
        raise RecipeError(f"'{path}' has no column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(_with_hint(name, header, taken=(*columns, target)) for name in missing)}."
                          f"{_separator_hint(header)}",
                          where=where_header,
                          fix=f"the model takes the columns {', '.join(columns)} (any order, names as written; "
                              f"the target '{target}' may be there too)")
    twice = [name for name in dict.fromkeys(header) if header.count(name) > 1 and (name in columns or name == target)]
    if twice:
        at = [i for i, name in enumerate(header, start=1) if name == twice[0]]
        raise RecipeError(f"'{path}' names the column '{twice[0]}' {len(at)} times (columns "
                          f"{', '.join(map(str, at))} of its header): which one the model reads is unclear.",
                          where=where_header, fix="rename or remove the copies")
    if len(records) < 2:
        raise RecipeError(f"'{path}' has no rows under its header.", where=str(path), fix="add rows")
    extra = [name for name in dict.fromkeys(header) if name not in columns and name != target]
    dtypes = {spec["name"]: spec["dtype"] for spec in meta["inputs"]}
    values = {name: [] for name in columns}
    answers = [] if target in header else None
    read_columns = {name: header.index(name) for name in [*columns, *([target] if answers is not None else [])]}
    lines = []
    for line, row in records[1:]:
        if len(row) != len(header):
            raise RecipeError(f"line {line} of {path} has {len(row)} fields, the header {len(header)}.",
                              where=f"{path}, line {line}", fix="every row needs one value per column")
        cells = {name: row[i].strip() for name, i in read_columns.items()}
        for name, kind in columns.items():
            if kind == "numeric":
                values[name].append(_numeric_cell(cells[name], name, dtypes[name], path, line))
            else:
                values[name].append(_category_cell(cells[name], name, kind, path, line))
        if answers is not None:
            answers.append(_answer(cells[target], meta, target, path, line))
        lines.append(line)
    inputs = {name: np.array(column, dtypes[name] if dtypes[name] != "string" else object)
              for name, column in values.items()}
    notes = [f"{path}: column{'s' if len(extra) > 1 else ''} {', '.join(extra)} ignored (not a feature of the model)"
             ] if extra else []
    return Examples([f"{path}, line {line}" for line in lines], inputs, targets=answers, notes=notes)


def _with_hint(name: str, header: list[str], quoted: bool = False, taken: tuple = ()) -> str:
    """A missing column's name, with the header's name it is likely misspelt as (none of the
    `taken` names, which are there as themselves)."""
    candidates = [] if _separator_hint(header) else [h for h in header if h not in taken]
    same = [h for h in candidates if h.casefold() == name.casefold()]
    match = same[0] if same else closest(name, candidates)
    shown = f"'{name}'" if quoted else name
    return f"{shown} (the header has '{match}': names are matched as written)" if match else shown


def _separator_hint(header: list[str]) -> str:
    """' It looks separated by ';' ...' when the header is one cell holding another separator."""
    if len(header) != 1:
        return ""
    for separator, called in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if separator in header[0]:
            return (f" Its header is one cell, {cut(header[0], 60)!r}: the file looks separated by {called}, "
                    "and predict reads comma-separated CSV (save it as CSV with commas).")
    return ""


def _numeric_cell(cell: str, name: str, dtype: str, path: Path, line: int) -> float:
    value, wrong = _number(cell, dtype)
    if wrong:
        raise RecipeError(f"line {line} of {path}: column '{name}' holds {wrong}.",
                          where=f"{path}, line {line}, column '{name}'",
                          fix=f"the model was trained on numbers in '{name}': give one")
    return value


def _category_cell(cell: str, name: str, categories: list[str], path: Path, line: int) -> str:
    """A categorical cell, refused unless it is one of the categories the model was trained on:
    anything else would be its out-of-vocabulary index, a silent guess."""
    if cell in categories:
        return cell
    held = "nothing" if cell == "" else repr(cut(cell))
    shown = ", ".join(categories[:MAX_CATEGORIES]) + (f", ... ({len(categories)} in all)"
                                                      if len(categories) > MAX_CATEGORIES else "")
    value = _number(cell, "float64")[0]
    twin = next((c for c in categories if value is not None and _number(c, "float64")[0] == value), None)
    raise RecipeError(f"line {line} of {path}: column '{name}' holds {held}, which is not one of its categories "
                      f"({shown}).{did_you_mean(cell, categories) if cell and not twin else ''}",
                      where=f"{path}, line {line}, column '{name}'",
                      fix=f"write it '{twin}', as in training: categories are matched as text" if twin else
                          "give one of the categories the model was trained on")


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
    value, wrong = _number(cell, "float64")  # the metric is computed in float64: inf or NaN would be its value
    if wrong:
        raise RecipeError(f"line {line} of {path}: the target '{target}' holds {wrong}.",
                          where=f"{path}, line {line}", fix="fix the cell, or leave it empty")
    return value


# --- a time series ------------------------------------------------------------------------


def read_series(meta: dict, path: Path) -> Examples:
    """A series of consecutive values: a CSV column with the training column's name, or one
    number per line. Every full window of `window` values is one example; its answer is the
    value `horizon` steps after the window's end, where the file goes that far."""
    import numpy as np

    from dlrecipes.data.files import csv_records

    source = meta["source"]
    column, window, horizon = source["column"], source["window"], source["horizon"]
    spec = _only_input(meta)
    records = [(line, row) for line, row in csv_records(path, "predict") if any(cell.strip() for cell in row)]
    header = [cell.strip() for cell in records[0][1]] if records else []
    if column in header:
        if header.count(column) > 1:
            raise RecipeError(f"'{path}' names the column '{column}' {header.count(column)} times in its header: "
                              "which one is the series is unclear.", where=f"{path}, line {records[0][0]}",
                              fix="rename or remove the copies")
        index = header.index(column)
        records = records[1:]
    elif len(header) == 1 and _number(header[0], spec["dtype"])[1] is None:
        index = 0
    elif records:
        raise RecipeError(f"'{path}' has no column {_with_hint(column, header, quoted=True)} and is not one number per line."
                          f"{_separator_hint(header)}", where=f"{path}, line {records[0][0]}",
                          fix=f"give a CSV file whose header names the series' column '{column}', or one value per line")
    values = []
    for line, row in records:
        value, wrong = _number(row[index], spec["dtype"]) if index < len(row) else (None, "nothing")
        if wrong:
            raise RecipeError(f"line {line} of {path}: '{column}' holds {wrong}.",
                              where=f"{path}, line {line}", fix="a series holds one number per row")
        values.append(value)
    if len(values) < window:
        raise RecipeError(f"'{path}' has {len(values)} value{'s' if len(values) != 1 else ''}, fewer than one window "
                          f"({window} consecutive values).", where=str(path),
                          fix=f"give at least {window} values: each window of {window} predicts the value "
                              f"{horizon} step{'s' if horizon > 1 else ''} after its end")
    series = np.asarray(values, spec["dtype"] if np.dtype(spec["dtype"]).kind == "f" else "float32")
    starts = range(len(values) - window + 1)
    windows = np.stack([series[i:i + window] for i in starts])
    answers = [values[i + window - 1 + horizon] if i + window - 1 + horizon < len(values) else None for i in starts]
    return Examples([f"{path}, values {i + 1}-{i + window}" for i in starts],
                    {spec["name"]: windows.reshape(len(windows), *spec["shape"][1:])}, targets=answers)


def _number(text: str, dtype: str) -> tuple[float | None, str | None]:
    """(the cell's number, None), or (None, what it holds instead, in words). The number must
    stay finite in the input's dtype: 1e39 is finite in Python, infinite in float32."""
    import numpy as np

    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return None, ("nothing, not a number" if text == "" else f"{cut(text)!r}, not a number")
    if not math.isfinite(value):
        return None, f"{cut(text)!r}, not a finite number"
    dtype = dtype if np.dtype(dtype).kind == "f" else "float32"
    with np.errstate(over="ignore"):
        fits = np.isfinite(np.asarray(value, dtype))
    if not fits:
        return None, f"{cut(text)!r}, beyond the range of the model's {dtype} input (±{np.finfo(dtype).max:.3g})"
    return value, None


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
    if _fits(array.shape, shape) or (shape[-1:] == (1,) and _fits(array.shape, shape[:-1])):
        array = array[None]  # one example
    if shape[-1:] == (1,) and _fits(array.shape[1:], shape[:-1]):
        array = array[..., None]
    if not _fits(array.shape[1:], shape) or len(array) == 0:
        wanted = ", ".join("?" if d is None else str(d) for d in shape)
        raise RecipeError(f"'{path}' holds an array of shape {array.shape}; the model takes examples of shape "
                          f"({wanted}), so it needs (n, {wanted}) with n >= 1.", where=str(path),
                          fix="reshape the array, or check it is for this model")
    return Examples([f"{path}[{i}]" for i in range(len(array))], {spec["name"]: _cast(array, dtype, path)})


def _fits(shape: tuple, wanted: tuple) -> bool:
    return len(shape) == len(wanted) and all(w is None or s == w for s, w in zip(shape, wanted))


def _cast(array, dtype: str, path: Path):
    """`array` as the input's dtype, refused where that changes what it holds: True/False are
    no pixels, 0.5 is no uint8, and 1e39 is finite in float64 but infinite in float32."""
    import numpy as np

    target = np.dtype(dtype)
    allowed = {"u": "iu", "i": "iu", "f": "iuf", "b": "b"}.get(target.kind, "")
    if array.dtype.kind not in allowed:
        wanted = ("integers 0-255 (pixels)" if dtype == "uint8" else f"integers ({dtype})" if target.kind in "iu"
                  else f"numbers ({dtype})" if target.kind == "f" else dtype)
        raise RecipeError(f"'{path}' holds {array.dtype} values; the model takes {wanted}.", where=str(path),
                          fix=f"save the array as {dtype}")
    if target.kind in "iu" and array.size:
        low, high, limits = array.min(), array.max(), np.iinfo(target)
        if low < limits.min or high > limits.max:
            held = "pixels 0-255" if dtype == "uint8" else f"{dtype} values ({limits.min} to {limits.max})"
            raise RecipeError(f"'{path}' holds values from {low} to {high}; the model takes {held}.", where=str(path),
                              fix="give the raw pixels (uint8), not scaled ones" if dtype == "uint8" else
                                  f"give values in the range of {dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RecipeError(f"'{path}' holds NaN or infinite values.", where=str(path), fix="give finite numbers")
    with np.errstate(over="ignore"):
        cast = array.astype(dtype)
    if target.kind == "f" and not np.isfinite(cast).all():
        raise RecipeError(f"'{path}' holds values beyond the range of the model's {dtype} input "
                          f"(±{np.finfo(target).max:.3g}): they would be infinite.", where=str(path),
                          fix="give values in the range the model was trained on")
    return cast


READERS = {"images": read_image, "text": read_lines, "table": read_rows, "sequences": read_sequences,
           "vectors": read_array, "arrays": read_array}
ARRAY_KINDS = ("images", "sequences", "vectors", "arrays")
WHAT = {"images": "image files (PNG, JPEG, GIF, BMP) or a .npy array of images",
        "text": "text files (one text per line, '-': standard input) or --text",
        "table": "CSV files with a header naming the model's columns",
        "sequences": "a CSV file of consecutive values (or a .npy array of windows)",
        "vectors": "a .npy array of shape (n, features)", "arrays": "a .npy array of examples"}
TEXT_KINDS = {"text": "lines of text", "table": "CSV rows (a table)",
              "sequences": "a series of numbers (a CSV column, or one per line)"}
ANY_INPUT = ("the files to predict on after the model: images, text files (or --text), CSV files or .npy arrays, "
             "as the model reads")
MAX_CATEGORIES = 20  # categories listed in a message
