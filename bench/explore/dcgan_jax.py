"""mnist-dcgan's networks and adversarial step on Keras' JAX backend: a GPU without TensorFlow.

    KERAS_BACKEND=jax python bench/explore/dcgan_jax.py CONFIGS.json [MNIST_DIR]

Written for the one GPU machine lent so far, which could not run TensorFlow (README, "GPU
figures"); it explored the settings the README's mnist-dcgan table lists. It needs keras,
jax, numpy, pydantic and PyYAML, and MNIST's four IDX files (default:
$DLRECIPES_DATA_DIR/mnist).

- Networks: dlrecipes' own dcgan builder (the recipe's options; CONFIGS may override them
  with "model") or, for the TensorFlow-tutorial rows, `make_generator` /
  `make_discriminator` below ("gen" / "disc").
- Step: dlrecipes.adversarial.GAN.train_step, rewritten with `stateless_call`. It runs a
  discriminator step on real (label 1 - smoothing) and generated (0) images, then a
  non-saturating generator step; Adam 2e-4 / 0.5 for both. It also keeps moving averages
  of the generator's weights ("ema": momenta).
- Judge: as bench/gan.py. A 3-epoch mnist-cnn classifies 1,000 samples; a sample counts
  as confident at max probability >= 0.9; the ratio is over the real test digits' share.

CONFIGS is a JSON list. Each entry has name, seed, epochs, and eval (the epochs to judge
at); optional keys are model, gen, disc, ema, batch and save. Results are JSON lines on
stdout and in $OUT/gan.jsonl.
"""

import gzip
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from dlrecipes import tasks  # noqa: E402
from dlrecipes.models import get_model  # noqa: E402

OUT = os.environ.get("OUT", "/tmp/out")
MNIST = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.environ.get("DLRECIPES_DATA_DIR", "../shared/datasets/raw"), "mnist")


def read_idx(name):
    data = gzip.open(os.path.join(MNIST, name), "rb").read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


x_train = read_idx("train-images-idx3-ubyte.gz")[..., None].astype("float32") / 255
y_train = read_idx("train-labels-idx1-ubyte.gz").astype("int32")
x_test = read_idx("t10k-images-idx3-ubyte.gz")[..., None].astype("float32") / 255
y_test = read_idx("t10k-labels-idx1-ubyte.gz").astype("int32")
if os.environ.get("SMOKE"):  # a quick check of the code path on a CPU
    x_train, y_train = x_train[:1024], y_train[:1024]
N_TRAIN = int(len(x_train) * 0.9)


def build(arch, options, task, n):
    entry = get_model(arch)
    return entry.build(entry.options(arch=arch, **options), (28, 28, 1), tasks.get(task).head(n))


def judge_model():
    keras.utils.set_random_seed(0)
    model = build("cnn", {"blocks": [[32], [64]], "dropout": 0.25, "dense": [128], "dense_dropout": 0.5}, "multiclass", 10)
    steps = 3 * int(np.ceil(N_TRAIN / 128))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[:N_TRAIN], y_train[:N_TRAIN], batch_size=128, epochs=3, verbose=0)
    acc = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"judge test accuracy {acc:.4f}", flush=True)
    return model


def shares(judge, images):
    p = judge.predict(images, batch_size=500, verbose=0)
    classes = np.bincount(p.argmax(1), minlength=10) / len(p)
    return float((p.max(1) >= 0.9).mean()), float(classes.min())


def make_generator(latent_dim, filters=(256, 128, 64), strides=(1, 2, 2), kernel=5):
    """Project to 7x7xfilters[0], then one transposed convolution per later stride."""
    L = keras.layers
    layers = [keras.Input((latent_dim,)), L.Dense(7 * 7 * filters[0], use_bias=False), L.BatchNormalization(), L.ReLU(),
              L.Reshape((7, 7, filters[0]))]
    for f, s in zip(list(filters[1:]) + [1], strides):
        if f == 1:
            layers.append(L.Conv2DTranspose(1, kernel, strides=s, padding="same", activation="sigmoid"))
        else:
            layers += [L.Conv2DTranspose(f, kernel, strides=s, padding="same", use_bias=False),
                       L.BatchNormalization(), L.ReLU()]
    return keras.Sequential(layers)


def make_discriminator(filters=(64, 128), kernel=5, batch_norm=False, dropout=0.3):
    L = keras.layers
    layers = [keras.Input((28, 28, 1))]
    for i, f in enumerate(filters):
        layers.append(L.Conv2D(f, kernel, strides=2, padding="same"))
        if batch_norm and i:
            layers.append(L.BatchNormalization())
        layers.append(L.LeakyReLU(0.2))
        if dropout:
            layers.append(L.Dropout(dropout))
    layers += [L.Flatten(), L.Dense(1), L.Activation("sigmoid")]
    return keras.Sequential(layers)


def run(config, judge, real_confident):
    name, seed, epochs = config["name"], config["seed"], config["epochs"]
    keras.utils.set_random_seed(seed)
    options = {"latent_dim": 100, "filters": 64, **config.get("model", {})}
    gan = build("dcgan", options, "adversarial", 10)
    g, d = gan.generator, gan.discriminator
    if "gen" in config:
        g = make_generator(latent_dim=options["latent_dim"], **config["gen"])
    if "disc" in config:
        d = make_discriminator(**config["disc"])
    latent = options["latent_dim"]
    lr = config.get("lr", 2e-4)
    g_opt = keras.optimizers.Adam(lr, beta_1=0.5)
    d_opt = keras.optimizers.Adam(lr, beta_1=0.5)
    g_opt.build(g.trainable_variables)
    d_opt.build(d.trainable_variables)
    smoothing = options.get("label_smoothing", 0.1)
    momenta = config.get("ema", [0.999])
    B = config.get("batch", 128)

    def bce(target, p):
        return keras.ops.mean(keras.losses.binary_crossentropy(target, p))

    def d_loss_fn(d_tv, d_ntv, g_tv, g_ntv, real, z):
        fake, g_ntv = g.stateless_call(g_tv, g_ntv, z, training=True)
        p_real, d_ntv = d.stateless_call(d_tv, d_ntv, real, training=True)
        p_fake, d_ntv = d.stateless_call(d_tv, d_ntv, fake, training=True)
        loss = bce(keras.ops.full_like(p_real, 1 - smoothing), p_real) + bce(keras.ops.zeros_like(p_fake), p_fake)
        return loss, (d_ntv, g_ntv)

    def g_loss_fn(g_tv, g_ntv, d_tv, d_ntv, z):
        fake, g_ntv = g.stateless_call(g_tv, g_ntv, z, training=True)
        p, d_ntv = d.stateless_call(d_tv, d_ntv, fake, training=True)
        return bce(keras.ops.ones_like(p), p), (g_ntv, d_ntv)

    @jax.jit
    def step(state, real, key):
        g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, emas = state
        k1, k2 = jax.random.split(key)
        z1 = jax.random.normal(k1, (B, latent))
        z2 = jax.random.normal(k2, (B, latent))
        (dl, (d_ntv, g_ntv)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d_tv, d_ntv, g_tv, g_ntv, real, z1)
        d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
        (gl, (g_ntv, d_ntv)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g_tv, g_ntv, d_tv, d_ntv, z2)
        g_tv, g_ov = g_opt.stateless_apply(g_ov, grads, g_tv)
        emas = [[m * e + (1 - m) * w for e, w in zip(ema, g_tv)] for m, ema in zip(momenta, emas)]
        return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, emas), dl, gl

    g_tv = [v.value for v in g.trainable_variables]
    state = (g_tv, [v.value for v in g.non_trainable_variables],
             [v.value for v in d.trainable_variables], [v.value for v in d.non_trainable_variables],
             [v.value for v in g_opt.variables], [v.value for v in d_opt.variables],
             [list(g_tv) for _ in momenta])
    key = jax.random.PRNGKey(seed)
    rng = np.random.default_rng(seed)
    z_eval = np.random.default_rng(1234).normal(size=(1000, latent)).astype("float32")
    results = []
    started = time.time()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        for i in range(len(x_train) // B):
            key, sub = jax.random.split(key)
            state, dl, gl = step(state, x_train[order[i * B:(i + 1) * B]], sub)
        if epoch in config["eval"]:
            g_tv, g_ntv, *_, emas = state
            row = {"name": name, "seed": seed, "epoch": epoch, "d_loss": float(dl), "g_loss": float(gl),
                   "seconds": round(time.time() - started, 1)}
            for label, weights in [("raw", g_tv)] + [(f"ema{m}", e) for m, e in zip(momenta, emas)]:
                for mode in (False, True) if label != "raw" else (False,):
                    images, _ = g.stateless_call(weights, g_ntv, z_eval, training=mode)
                    images = np.round(np.clip(np.asarray(images), 0, 1) * 255) / 255
                    confident, smallest = shares(judge, images)
                    key_name = label + ("_batchstats" if mode else "")
                    row[key_name] = {"ratio": round(confident / real_confident, 3), "smallest": round(smallest, 3)}
                    if config.get("save") and epoch == epochs:
                        np.save(os.path.join(OUT, f"{name}-{key_name}.npy"), (images[:64] * 255).astype("uint8"))
            print(json.dumps(row), flush=True)
            results.append(row)
    return results


def main():
    os.makedirs(OUT, exist_ok=True)
    print(jax.devices(), flush=True)
    judge = judge_model()
    real_confident, _ = shares(judge, x_test[:1000])
    print(f"real confident share {real_confident:.3f}", flush=True)
    with open(sys.argv[1]) as f:
        configs = json.load(f)
    with open(os.path.join(OUT, "gan.jsonl"), "a") as log:
        for config in configs:
            for row in run(config, judge, real_confident):
                log.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
