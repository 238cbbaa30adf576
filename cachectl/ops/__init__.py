"""The operations behind the command-line tool: plain functions returning plain data.

    connect    open a Redis or Redis Cluster connection, errors as BackendUnavailable
    selection  which keys a command acts on: a prefix, a glob, a tag, keys, or all
    server     what INFO says about each primary
    stats      published hit/miss/latency figures merged with key counts and memory
    prometheus the text exposition format of a stats report
    listing    SCAN-based key listing with type, TTL, size and codec
    inspect    decode one stored value, cachectl's own or foreign
    flush      count, sample and delete a selection in batches
    namespaces which namespaces a server holds, from its stats hashes and a sample of keys
    latency    round-trip probes on a dedicated connection

No Typer or Rich here: the command-line tool and the admin router render the results.
"""
