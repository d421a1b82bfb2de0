"""dlrecipes: declarative recipes for the classic deep-learning architectures.

A recipe (YAML under ``recipes/``) names a problem type, a dataset, an architecture and
how to train it. Data flows one way through the package:

    loader.py (recipe.py, checks.py) -> data/ -> models/ (+ tasks.py for the head) -> train/
        -> runs.py -> export.py

Importing this package is cheap: TensorFlow and Keras are imported only inside the
functions that need them, so ``dlrecipes --help``, ``list`` and ``validate`` stay fast.
"""

__version__ = "0.1.0"
