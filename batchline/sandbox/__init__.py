"""A local server that speaks the OpenAI, Anthropic and Vertex AI batch APIs (and Cloud Storage).

Point the official SDKs at it by base URL and everything runs offline, with no key and no cost.
"""

from batchline.sandbox.core import BatchOutcome, FakeModel, Faults, LineFault, Responder
from batchline.sandbox.server import Sandbox

__all__ = ["BatchOutcome", "FakeModel", "Faults", "LineFault", "Responder", "Sandbox"]
