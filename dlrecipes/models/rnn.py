"""Recurrent networks: SimpleRNN, LSTM and GRU layers, stacked, optionally bidirectional.

References:
- Elman, "Finding Structure in Time" (Cognitive Science, 1990): the simple recurrent net.
- Hochreiter & Schmidhuber, "Long Short-Term Memory" (Neural Computation, 1997).
- Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder" (EMNLP 2014): GRU.
- Schuster & Paliwal, "Bidirectional Recurrent Neural Networks" (IEEE TSP, 1997).

A recurrent layer reads a sequence one step at a time and carries a state from step to
step; LSTM and GRU gate that state so gradients survive long sequences, which a simple
RNN's do not. Every layer but the last returns its whole output sequence, so the next
layer reads a sequence too; the last returns its final state, which the head classifies.

Inputs are either sequences of numbers, shaped (timesteps, features) - windows of a
series - or raw strings when `text` is set: a `TextVectorization` layer inside the model
turns them into token ids and an `Embedding` into vectors, so the model (and its export)
takes text as it is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import MAX_LAYERS, ModelOptions, Units, stack, text_vectorization
from dlrecipes.models.registry import register_model
from dlrecipes.schema import Section

CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


class TextInput(Section):
    max_tokens: int = Field(20_000, ge=2, le=10_000_000, description="Vocabulary size, the most frequent words of the training split.")
    sequence_length: int = Field(200, ge=1, le=100_000, description="Token ids per text: longer texts are cut, shorter padded.")
    embedding_dim: Units = Field(64, description="Size of each word vector.")


class RnnOptions(ModelOptions):
    arch: Literal["rnn"]
    cell: Literal["simple_rnn", "lstm", "gru"] = Field("lstm", description="The recurrent layer.")
    units: list[Units] = Field([64], min_length=1, max_length=MAX_LAYERS, description="Units of each stacked recurrent layer.")
    bidirectional: bool = Field(False, description="Read each sequence both ways and concatenate.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after the recurrent stack.")
    dense: list[Units] = Field([], max_length=MAX_LAYERS, description="Hidden dense layers (ReLU) before the head.")
    text: TextInput | None = Field(None, description="Raw-string inputs: vectorize and embed inside the model.")

    def input_problems(self, signature) -> list[tuple[str, str]]:
        if signature.kind == "text" and self.text is None:
            return [("text", "this dataset gives raw text; add a `text:` section (max_tokens, sequence_length, "
                             "embedding_dim) to vectorize and embed it")]
        if signature.kind != "text" and self.text is not None:
            return [("text", f"model.text vectorizes raw strings, but this dataset gives {signature.kind} shaped "
                             f"{tuple(signature.input_shape)}; remove the `text:` section")]
        return []


@register_model("rnn", RnnOptions, inputs=("sequences", "text"))
def rnn(options: RnnOptions, input_shape: tuple[int, ...], head: list):
    """Stacked SimpleRNN / LSTM / GRU, optionally bidirectional, for text or series."""
    import keras

    layers = keras.layers
    text = options.text
    body = []
    if text is not None:
        body += [
            text_vectorization(text.max_tokens, text.sequence_length),
            # Id 0 is padding: masking it keeps short texts from being read as long ones.
            layers.Embedding(text.max_tokens, text.embedding_dim, mask_zero=True, name="embedding"),
        ]
    cell = getattr(layers, CELLS[options.cell])
    for i, units in enumerate(options.units, start=1):
        last = i == len(options.units)
        recurrent = cell(units, return_sequences=not last, name=f"{options.cell}_{i}")
        if options.bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{i}")
        body.append(recurrent)
    if options.dropout:
        body.append(layers.Dropout(options.dropout, name="dropout"))
    for i, units in enumerate(options.dense, start=1):
        body.append(layers.Dense(units, activation="relu", name=f"dense_{i}"))
    name = f"{'bi' if options.bidirectional else ''}{options.cell}"
    return stack([*body, *head], tuple(input_shape), options.api, name, dtype="string" if text else None)
