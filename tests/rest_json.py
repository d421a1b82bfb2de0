"""TensorFlow Serving's REST predict API, JSON in and JSON out, around a SavedModel's signature.

    python tests/rest_json.py SAVED_MODEL REQUEST.json...   one response (JSON) per line

`tensorflow_model_server` is not on any package index here, so the tests stand in for it:
this maps a request body to tensors and the outputs back to a response as its
`tensorflow_serving/util/json_tensor.cc` does (FillPredictRequestFromJson,
MakeJsonFromTensors), and is run in a fresh process, as the server loads the model.

- `{"instances": [...]}` (row form): a list of examples, stacked along a new batch
  dimension. With several named inputs each example is an object with every input's value
  (exactly those keys); with one, an example may be the bare value.
- `{"inputs": ...}` (columnar form): an object of each named input's whole batch, taken as
  it is; with one named input, the bare value.
- Values become the dtype of the signature's input: integer tensors take only JSON
  integers, float tensors any number (NaN and Infinity too), string tensors strings or
  `{"b64": ...}`. Nested lists must be rectangular.
- Responses: `{"predictions": [...]}` for the row form, one object per example keyed by
  output name (or bare values when there is a single output); `{"outputs": {...}}` for the
  columnar form. float32 values are written with six significant digits, or nine where six
  do not read back as the same float32. String outputs are text, or `{"b64": ...}` when the output's name ends
  in `_bytes`.
"""

from __future__ import annotations

import base64
import json
import sys

import numpy as np

SIGNATURE = "serving_default"


class BadRequest(ValueError):
    """What TF Serving answers with HTTP 400 and `{"error": ...}`."""


def is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def is_example_object(value) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def to_array(value, dtype: np.dtype, name: str) -> np.ndarray:
    """One named input's JSON value as a tensor of the signature's dtype: the shape is read
    along the first elements (GetDenseTensorShape), then every list must have its level's
    length and every value sit at the innermost level (FillTensorProto)."""
    shape, first = [], value
    while isinstance(first, list):
        shape.append(len(first))
        if not first:
            break
        first = first[0]
    leaves = []

    def fill(item, level):
        if not isinstance(item, list):
            if level != len(shape):
                raise BadRequest(f"{name}: value {item!r} found at level {level + 1}, expected at level {len(shape)}")
            leaves.append(leaf(item, dtype, name))
            return
        if level >= len(shape) or len(item) != shape[level]:
            raise BadRequest(f"{name}: list of {len(item)} at level {level}, expected {shape[level:level + 1]}")
        for inner in item:
            fill(inner, level + 1)

    fill(value, 0)
    return np.array(leaves, dtype=dtype).reshape(shape)


def leaf(item, dtype: np.dtype, name: str):
    if dtype.kind in "OSU":
        if is_b64(item):
            return base64.b64decode(item["b64"])
        if isinstance(item, str):
            return item.encode("utf-8")
    elif dtype.kind in "iu":
        if isinstance(item, int) and not isinstance(item, bool):
            return item
    elif dtype.kind == "f":
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            return item
    elif dtype.kind == "b" and isinstance(item, bool):
        return item
    raise BadRequest(f"{name}: JSON value {item!r} is not of expected type {dtype}")


def request_tensors(body: dict, specs: dict) -> tuple[dict, str]:
    """The signature's inputs from a request body, and its form ("row" or "columnar")."""
    dtypes = {name: np.dtype(spec.dtype.as_numpy_dtype) for name, spec in specs.items()}
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("expecting exactly one of 'instances' or 'inputs'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest("'instances' must be a non-empty list")
        if not is_example_object(instances[0]):
            if len(specs) > 1:
                raise BadRequest("instances is a plain list, but the signature has several inputs")
            (name,) = specs
            return {name: to_array(instances, dtypes[name], name)}, "row"
        for i, example in enumerate(instances):
            if not is_example_object(example) or set(example) != set(specs):
                raise BadRequest(f"instance {i}: keys must be equal to: {','.join(sorted(specs))}")
        return {name: to_array([example[name] for example in instances], dtypes[name], name)
                for name in specs}, "row"
    inputs = body["inputs"]
    if not is_example_object(inputs):
        if len(specs) > 1:
            raise BadRequest("inputs is a plain value, but the signature has several inputs")
        (name,) = specs
        return {name: to_array(inputs, dtypes[name], name)}, "columnar"
    missing = set(specs) - set(inputs)
    if missing:
        raise BadRequest(f"missing named input: {sorted(missing)[0]}")
    return {name: to_array(inputs[name], dtypes[name], name) for name in specs}, "columnar"


def decimal(value: np.float32) -> float:
    """A float32 as TF Serving writes it (WriteDecimal): six significant digits when they
    read back as the same float32, else nine."""
    short = float(f"{value:g}")
    return short if np.float32(short) == value else float(f"{value:.9g}")


def jsonable(value: np.ndarray, name: str):
    if value.dtype == np.float32:
        return np.array([decimal(v) for v in value.ravel()], dtype=object).reshape(value.shape).tolist()
    if value.dtype.kind in "OS":
        if name.endswith("_bytes"):
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(value).tolist()
        return np.char.decode(value.astype(bytes), "utf-8").tolist()
    return value.tolist()


def response(outputs: dict, form: str) -> dict:
    outputs = {name: np.asarray(value) for name, value in sorted(outputs.items())}
    if form == "columnar":
        shown = {name: jsonable(value, name) for name, value in outputs.items()}
        return {"outputs": shown if len(shown) > 1 else next(iter(shown.values()))}
    rows = {name: jsonable(value, name) for name, value in outputs.items()}
    batch = {len(values) for values in rows.values()}
    if len(batch) != 1:
        raise BadRequest("outputs have inconsistent batch sizes")
    if len(rows) == 1:
        return {"predictions": next(iter(rows.values()))}
    return {"predictions": [{name: values[i] for name, values in rows.items()} for i in range(batch.pop())]}


def predict(serve, specs: dict, body: dict) -> dict:
    import tensorflow as tf

    try:
        tensors, form = request_tensors(body, specs)
        fed = {name: tf.constant(value, dtype=specs[name].dtype) for name, value in tensors.items()}
        return response({name: value.numpy() for name, value in serve(**fed).items()}, form)
    except BadRequest as error:
        return {"error": str(error)}
    except tf.errors.InvalidArgumentError as error:  # the model refuses the tensors: also a 400
        return {"error": error.message}


def main() -> int:
    import tensorflow as tf

    model, *requests = sys.argv[1:]
    loaded = tf.saved_model.load(model)
    for path in requests:
        with open(path, encoding="utf-8") as file:
            body = json.load(file)  # Python's json reads NaN and Infinity, as TF Serving's parser does
        name = body.get("signature_name", SIGNATURE)
        if name not in loaded.signatures:
            print(json.dumps({"error": f"Serving signature name: \"{name}\" not found in signature def"}), flush=True)
            continue
        serve = loaded.signatures[name]
        print(json.dumps(predict(serve, serve.structured_input_signature[1], body)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
