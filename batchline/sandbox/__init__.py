"""A local server that speaks the OpenAI, Anthropic and Vertex AI batch APIs (and Cloud Storage).

Point the official SDKs at it by base URL and everything runs offline, with no key and no cost.
"""

from batchline.sandbox.fake_model import FakeModel, Responder
from batchline.sandbox.faults import BatchOutcome, Faults, LineFault
from batchline.sandbox.server import Sandbox

__all__ = ["BatchOutcome", "FakeModel", "Faults", "LineFault", "Responder", "Sandbox"]
