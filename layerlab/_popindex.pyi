from collections.abc import Sequence
from typing import TypeVar

_D = TypeVar("_D")

def index(data: bytes, /) -> tuple[int, bytes] | None: ...
def lookup(data: bytes, table: bytes, names: Sequence[str], default: _D, /) -> tuple[int | _D, ...]: ...
