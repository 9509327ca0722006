"""The demo's cost report, in the library's own terms.

The prices are the library's table (``batchline.pricing``, from ``batchline/data/prices.json``
plus ``BATCHLINE_PRICES_FILE``) and the token totals its usage accounting
(``batchline.batching.cost``), so the demo's saved-money line prices cached input at the
cached tier, as the providers bill it, and a demo run costs what ``JobHandle.cost()`` says.
The old names stay importable from ``batchline.demo``.
"""

from __future__ import annotations

from batchline.batching.cost import TokenUsage as TokenCount
from batchline.pricing import ModelPrice, PriceTable
from batchline.pricing import Rates as Price

__all__ = ["ModelPrice", "Price", "PriceTable", "TokenCount"]
