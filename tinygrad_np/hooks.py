"""`RemovableHandle`: what `Tensor.register_hook` and the `Module.register_*_hook` methods return."""
from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """`handle.remove()` unregisters the hook it was returned for (again: no effect). Also a context manager that
    removes the hook on exit, as PyTorch's."""

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks, self.id = hooks, next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()
