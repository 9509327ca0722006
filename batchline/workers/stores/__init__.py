"""Every Redis read and write of the workers, one store module per kind of thing.

* ``jobs``: job records and their shards (the state machine's compare-and-set), the job index,
  and a job's lifetime (expiry, deletion);
* ``requests``: a job's requests waiting for submission, and a retry's original custom ids;
* ``results``: stored results, in request order, and unmatched result lines;
* ``callbacks``: each callback's marker, recorded state and the set of ended callbacks;
* ``claims``: claims and locks (submit claims, retry claims, the poll lock);
* ``polls``: the per-provider schedule of shards awaiting a poll;
* ``rates``: the per-second counters of the shared rate limit.

Nothing outside this package talks to Redis; the keys all come from ``workers.keys``. Stores
that must write together in one round trip share a pipeline (``RedisStore.batch``).
"""
