"""The shared core every other layer stands on: the one error tree and its retry
policy (``errors``), the wire records and object keys (``wire``), webhook signing
(``signing``), Cloud Storage (``storage``) and the engine version (``version``).

It imports nothing from the engine, the service or the client (import-linter checks).
"""
