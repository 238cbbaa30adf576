"""The operations behind the command-line tool: plain functions returning plain data.

    connect    open a Redis or Redis Cluster connection, errors as BackendUnavailable; or wrap
               an application's embedded store (for_cache: the connection a Cache stands on)
    memory     the Redis commands the operations use, answered by a MemoryStore
    aio        run an operation from async code in a worker thread (await aio.run(fn, ...))
    selection  which keys a command acts on: a prefix, a glob, a tag, keys, or all
    server     what INFO says about each primary
    stats      published hit/miss/latency figures merged with key counts and memory
    prometheus the text exposition format of a stats report
    sniff      what a stored value is, named from its first bytes (listing and inspect alike)
    decode     decode stored bytes, cachectl's own or foreign, decompression bounded
    preview    a decoded value clipped, made JSON-compatible, or dumped as hex
    listing    SCAN-based key listing with type, TTL, size and codec
    inspect    read one key: type, TTL, memory, tags and its value decoded
    flush      count, sample and delete a selection in batches
    namespaces which namespaces a server holds, from its stats hashes and a sample of keys
    latency    round-trip probes on a dedicated connection
    edit       delete one key, or change its TTL
    audit      a bounded log of destructive actions, kept beside the namespace's stats
    doctor     what is wrong with a namespace's cache: findings with figures and advice

No Typer or Rich here: the command-line tool and the admin router render the results.
"""
