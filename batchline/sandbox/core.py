"""The names every emulated provider shares, gathered from the modules that hold them.

Kept so that ``from batchline.sandbox.core import ...`` goes on working; new code imports from
the module that holds the concept (``faults``, ``fake_model``, ``spoiling``, ``context``,
``ids``, ``spool``, ``front_door``).
"""

from batchline.sandbox.context import SandboxContext
from batchline.sandbox.fake_model import FakeModel, Responder
from batchline.sandbox.faults import BatchOutcome, Faults, LineFault
from batchline.sandbox.front_door import FrontDoor
from batchline.sandbox.ids import random_hex, random_token
from batchline.sandbox.spoiling import (
    answer_text,
    break_json,
    cut_short,
    partial_value,
    violate_schema,
    written_answer,
)
from batchline.sandbox.spool import Spool, output_order, read_lines

__all__ = [
    "BatchOutcome",
    "FakeModel",
    "Faults",
    "FrontDoor",
    "LineFault",
    "Responder",
    "SandboxContext",
    "Spool",
    "answer_text",
    "break_json",
    "cut_short",
    "output_order",
    "partial_value",
    "random_hex",
    "random_token",
    "read_lines",
    "violate_schema",
    "written_answer",
]
