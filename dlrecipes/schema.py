"""The base class of every recipe section.

Sections are pydantic models that refuse unknown keys: a typo such as `epocs: 3` is an
error, never a silently ignored setting. They are strict: a boolean is not a number (`epochs:
true`), a float is not an integer (`hidden: [1e100]`), and no number is infinite or NaN
(`learning_rate: .inf`), so nonsense is refused before it trains to NaN or chance.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Every seed in a recipe seeds NumPy somewhere, which takes 0 <= seed < 2**32.
Seed = Annotated[int, Field(ge=0, lt=2**32)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, protected_namespaces=())
