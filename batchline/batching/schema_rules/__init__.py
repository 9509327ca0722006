"""One rule book per provider for structured-output schemas, with the sources of each rule.

The sandbox applies these to refuse what the real APIs refuse; batchline applies them once per
job, before anything is uploaded. ``docs/provider-rules.md`` tabulates them.
"""

from batchline.batching.schema_rules.core import SchemaPath, Violation

__all__ = ["SchemaPath", "Violation"]
