"""What the build benchmarks feed both libraries: one response model and a stream of chats.

The conversations are generated from a seed, so every run (and both libraries) sees exactly the
same input. They are cycled from a small pool rather than built one by one: building a fresh
dict per request would cost about as much as batchline's own encoding and blur the comparison,
and a pool keeps the input's memory out of the peak-RSS figures.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

#: Distinct conversations in the pool the request stream cycles through.
POOL_SIZE = 1_000

#: The system prompt every request carries, as the guide's examples do.
SYSTEM_PROMPT = (
    "Extract the contact described in the user's message. Use null for an email that is not "
    "given, list every interest mentioned, and give the city and country separately."
)

FIRST_NAMES = (
    "Alice",
    "Bob",
    "Chloé",
    "Dmitri",
    "Esther",
    "Farid",
    "Grace",
    "Hiro",
    "Inès",
    "Jonas",
    "Kemi",
    "Luis",
    "Mei",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
)
LAST_NAMES = (
    "Martin",
    "Okafor",
    "Nakamura",
    "García",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Moreau",
    "Singh",
    "O'Brien",
    "Novak",
    "Costa",
)
PLACES = (
    ("Lyon", "France"),
    ("Osaka", "Japan"),
    ("Porto", "Portugal"),
    ("Leeds", "UK"),
    ("Kraków", "Poland"),
    ("Austin", "USA"),
    ("Lagos", "Nigeria"),
    ("Quito", "Ecuador"),
    ("Graz", "Austria"),
    ("Pune", "India"),
)
INTERESTS = (
    "climbing",
    "chess",
    "jazz piano",
    "birdwatching",
    "sourdough",
    "trail running",
    "astronomy",
    "pottery",
    "cycling",
    "board games",
    "sailing",
    "photography",
)


class Address(BaseModel):
    city: str
    country: str


class Contact(BaseModel):
    """The answer each request asks for: an optional field, a list and a nested model, so the
    schema handling of both libraries (strict mode, ``$defs``) is part of what is measured."""

    name: str
    age: int
    email: str | None = None
    interests: list[str]
    address: Address


#: Where workers and spawned measurement processes import the response model from.
RESPONSE_MODEL_PATH = f"{Contact.__module__}:{Contact.__qualname__}"


def fake_contact(rng: random.Random) -> dict[str, Any]:
    """One plausible answer, as the model would return it (used for result lines too)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, country = rng.choice(PLACES)
    email = f"{first.lower()}.{rng.randrange(1000)}@example.org" if rng.random() < 0.7 else None
    return {
        "name": f"{first} {last}",
        "age": rng.randrange(18, 90),
        "email": email,
        "interests": rng.sample(INTERESTS, rng.randrange(1, 4)),
        "address": {"city": city, "country": country},
    }


def conversation(contact: dict[str, Any]) -> list[dict[str, str]]:
    """A system prompt and a user message of a few hundred characters describing ``contact``."""
    interests = ", ".join(contact["interests"])
    email = f" You can write to me at {contact['email']}." if contact["email"] else ""
    text = (
        f"Hello! My name is {contact['name']} and I turned {contact['age']} this spring. "
        f"I moved to {contact['address']['city']} ({contact['address']['country']}) a few "
        f"years ago for work and have stayed since. In my free time I enjoy {interests}, and "
        f"I'm looking for a local group to share that with.{email} Thanks for reading!"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def conversation_pool(size: int = POOL_SIZE, seed: int = 7) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    return [conversation(fake_contact(rng)) for _ in range(size)]


def conversations(count: int, seed: int = 7) -> Iterator[list[dict[str, str]]]:
    """``count`` conversations, cycling the seeded pool; a generator, so file mode can stream."""
    pool = conversation_pool(min(POOL_SIZE, count), seed)
    return itertools.islice(itertools.cycle(pool), count)
