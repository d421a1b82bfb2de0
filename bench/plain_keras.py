"""The hand-written baseline: a Keras script as the keras-io examples write it.

NumPy arrays straight into `model.fit`, no tf.data, no tuning. Models are written out by
hand (not through dlrecipes) with the same layers as the recipes.

    python bench/plain_keras.py mnist-dnn --epochs 3 --train 54000

Prints one JSON line: per-epoch training throughput and when the first step finished.
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import tensorflow_datasets as tfds


def mnist_dnn():
    return keras.Sequential([
        keras.layers.InputLayer((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(256), keras.layers.ReLU(),
        keras.layers.Dense(128), keras.layers.ReLU(),
        keras.layers.Dense(10), keras.layers.Softmax(),
    ])


def mnist_cnn():
    return keras.Sequential([
        keras.layers.InputLayer((28, 28, 1)),
        keras.layers.Conv2D(32, 3, padding="same"), keras.layers.ReLU(), keras.layers.MaxPooling2D(2),
        keras.layers.Dropout(0.25),
        keras.layers.Conv2D(64, 3, padding="same"), keras.layers.ReLU(), keras.layers.MaxPooling2D(2),
        keras.layers.Dropout(0.25),
        keras.layers.Flatten(),
        keras.layers.Dense(128), keras.layers.ReLU(), keras.layers.Dropout(0.5),
        keras.layers.Dense(10), keras.layers.Softmax(),
    ])


MODELS = {"mnist-dnn": mnist_dnn, "mnist-cnn": mnist_cnn}


class Timing(keras.callbacks.Callback):
    def __init__(self, examples):
        super().__init__()
        self.examples, self.rates, self.first_step_at = examples, [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()
        if self.first_step_at is None:
            self.first_step_at = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.examples / (self.last - self.started))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=54000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--test", default="test")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    x, y = tfds.as_numpy(tfds.load("mnist", split=f"train[:{args.train}]", as_supervised=True, batch_size=-1))
    x = x.astype("float32") / 255.0

    model = MODELS[args.model]()
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timing = Timing(len(x))
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[timing])
    # The test split, as `dlrecipes train` ends: the same work, and accuracy to compare.
    x_test, y_test = tfds.as_numpy(tfds.load("mnist", split=args.test, as_supervised=True, batch_size=-1))
    _, accuracy = model.evaluate(x_test.astype("float32") / 255.0, y_test, batch_size=512, verbose=0)
    print(json.dumps({"examples_per_second": timing.rates, "first_step_at": timing.first_step_at,
                      "test_accuracy": accuracy}))


if __name__ == "__main__":
    main()
