"""The base class of every recipe section.

Sections are pydantic models that refuse unknown keys: a typo such as `epocs: 3` is an
error, never a silently ignored setting.
"""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
