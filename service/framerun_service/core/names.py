"""How one setting or field is spelled on the wire: Python's ``chunk_size`` is ``chunkSize``.

Cloud Workflows' YAML reads camelCase JSON, Python code is snake_case; the error
tree (setting names in messages) and the wire records (field names as keys) both
convert with this one function.
"""


def camel_case(name: str) -> str:
    """``chunk_size`` → ``chunkSize``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
