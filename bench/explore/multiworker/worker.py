import os, sys, time, hashlib
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(2)
import keras

PATCH = os.environ.get("PATCH", "1") == "1"
SPE = int(os.environ.get("SPE", "1"))
SHARD = os.environ.get("SHARD", "DATA")
MODE = os.environ.get("MODE", "mw")  # mw | single
VAL = os.environ.get("VAL", "0") == "1"
EVAL = os.environ.get("EVAL", "0") == "1"
PRED = os.environ.get("PRED", "0") == "1"
TIMEOUT = float(os.environ.get("TIMEOUT", "0"))
EPOCHS = int(os.environ.get("EPOCHS", "2"))
N = int(os.environ.get("N", "2048"))
SLEEP_PER_BATCH = float(os.environ.get("SLEEP", "0"))
GB = 64
t0 = time.time()
def log(*a):
    print(f"[{os.environ.get('WID','s')} {time.time()-t0:7.2f}s]", *a, flush=True)

if MODE == "mw":
    kw = {}
    if TIMEOUT:
        kw["communication_options"] = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=TIMEOUT)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(**kw)
else:
    strategy = tf.distribute.get_strategy()
log("replicas", strategy.num_replicas_in_sync)

if PATCH and MODE == "mw":
    sys.path.insert(0, os.path.dirname(__file__))
    import mwpatch
    mwpatch.apply(strategy)

rng = np.random.default_rng(0)
x = rng.normal(size=(N, 32)).astype("float32")
w = rng.normal(size=(32, 10)).astype("float32")
y = np.argmax(x @ w + 0.5 * rng.normal(size=(N, 10)), axis=1).astype("int64")

def make_ds(xx, yy):
    ds = tf.data.Dataset.from_tensor_slices((xx, yy)).batch(GB, drop_remainder=True)
    opt = tf.data.Options()
    opt.experimental_distribute.auto_shard_policy = getattr(
        tf.data.experimental.AutoShardPolicy, SHARD)
    ds = ds.with_options(opt)
    if SLEEP_PER_BATCH:
        ds = ds.map(lambda a, b: (tf.py_function(lambda t: (time.sleep(SLEEP_PER_BATCH), t)[1], [a], tf.float32), b))
        ds = ds.map(lambda a, b: (tf.ensure_shape(a, [GB, 32]), b))
    return ds

ds = make_ds(x, y)
vds = make_ds(x[:512], y[:512])
log("cardinality", int(ds.cardinality()))

keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=SPE)
h0 = hashlib.sha256(b"".join(np.asarray(v).tobytes() for v in model.get_weights())).hexdigest()[:16]
log("init_hash", h0)

class StepCount(keras.callbacks.Callback):
    def on_train_begin(self, logs=None): self.n = 0
    def on_train_batch_end(self, b, logs=None): self.n += 1
sc = StepCount()
t1 = time.time()
hist = model.fit(ds, epochs=EPOCHS, verbose=0, callbacks=[sc],
                 validation_data=vds if VAL else None)
log("fit_time %.2f" % (time.time() - t1), "batch_callbacks", sc.n)
log("history", {k: [round(float(v), 6) for v in vs] for k, vs in hist.history.items()})
h = hashlib.sha256(b"".join(np.asarray(v).tobytes() for v in model.get_weights())).hexdigest()
log("final_hash", h)
np.savez(os.environ.get("SAVE",os.path.join(os.path.dirname(os.path.abspath(__file__)), "w_%s.npz") % os.environ.get("WID","s")), *model.get_weights())
if EVAL:
    log("evaluate", model.evaluate(vds, verbose=0, return_dict=True))
if PRED:
    p = model.predict(tf.data.Dataset.from_tensor_slices(x[:256]).batch(GB), verbose=0)
    log("predict shape", p.shape); np.save(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pred_%s.npy") % os.environ.get("WID","s"), p)
log("DONE")
