"""The random parts of provider-style ids (``chatcmpl-...``, ``msg_01...``, ``request_id``).

Each app adds its provider's prefix and shape; the randomness comes from here.
"""

from __future__ import annotations

import random
import string

_ID_CHARS = string.ascii_letters + string.digits
#: Ids only need to look real and not collide; a private generator is quicker than ``secrets``
#: for 50,000 lines and is not disturbed by a test seeding the global ``random``.
_ID_RANDOM = random.Random()
#: Maps each byte to a letter or digit (slightly unevenly, which no id reader can tell).
_ID_TABLE = bytes((_ID_CHARS * 5).encode()[:256])


def random_token(length: int) -> str:
    """Random letters and digits for a provider-style id (``chatcmpl-...``, ``msg_01...``)."""
    return _ID_RANDOM.randbytes(length).translate(_ID_TABLE).decode()


def random_hex(length: int = 32) -> str:
    """Random lower-case hex digits, as in OpenAI's ``request_id``."""
    return f"{_ID_RANDOM.getrandbits(length * 4):0{length}x}"
