import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tft
from keras.src import tree
_orig_build = tft.TensorFlowTrainer._maybe_symbolic_build
_orig_reduce = tft.reduce_per_replica

def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, it in iterator:
            batch = next(it)
            is_dist = tree.map_structure(
                lambda x: isinstance(x, tf.distribute.DistributedValues), batch)
            if all(tree.flatten(is_dist)):
                # only shapes/dtypes needed: take local replica, no collective
                data_batch = tree.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0], batch)
            else:
                data_batch = batch
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)

def reduce_per_replica(values, strategy, reduction):
    if reduction == "auto":
        reduction = "mean"
    if tft._collective_all_reduce_multi_worker(strategy) and reduction == "mean":
        def _r(v):
            axis = None if v.shape.rank == 0 else 0
            return strategy.reduce("MEAN", v, axis=axis)
        return tree.map_structure(_r, values)
    return _orig_reduce(values, strategy, reduction)

def apply(strategy=None):
    import os
    what = os.environ.get("WHAT", "both")
    if what in ("both", "build"):
        tft.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    if what in ("both", "reduce"):
        tft.reduce_per_replica = reduce_per_replica

def _make_function_unrolled(self, step_function):
    """Variant: python-unrolled steps_per_execution loop (no tf.while_loop)."""
    import os
    variant = os.environ.get("SPEFIX", "cond")

    def one_step_on_data(data):
        outputs = self.distribute_strategy.run(step_function, args=(data,))
        return tft.reduce_per_replica(outputs, self.distribute_strategy, reduction="auto")
    if not self.run_eagerly:
        one_step_on_data = tf.function(one_step_on_data, reduce_retracing=True,
                                       jit_compile=self.jit_compile)
    one_step_on_data = self._autoconvert_optionals(one_step_on_data)

    def multi_step_on_iterator(iterator):
        if variant == "getnext":
            # plain get_next: needs steps/epoch % steps_per_execution == 0
            for _ in range(self.steps_per_execution):
                outputs = one_step_on_data(iterator.get_next())
            return tf.experimental.Optional.from_value(outputs)
        # cond variant: first step via optional, rest guarded by tf.cond
        opt = iterator.get_next_as_optional()
        outputs = one_step_on_data(opt.get_value())  # fails if empty
        for _ in range(self.steps_per_execution - 1):
            opt = iterator.get_next_as_optional()
            prev = outputs
            outputs = tf.cond(opt.has_value(),
                              lambda: one_step_on_data(opt.get_value()),
                              lambda: prev)
        return tf.experimental.Optional.from_value(outputs)
    if not self.run_eagerly:
        multi_step_on_iterator = tf.function(multi_step_on_iterator, reduce_retracing=True)

    def function(iterator):
        return multi_step_on_iterator(iterator).get_value()
    return function

import os as _os
if _os.environ.get("SPEFIX"):
    _old_apply = apply
    def apply(strategy=None):
        _old_apply(strategy)
        tft.TensorFlowTrainer._make_function = _make_function_unrolled
