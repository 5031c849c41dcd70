"""The activation functions of `nn.functional` (silu, elu, hardtanh, …), re-exported by `nn.functional`."""
from __future__ import annotations

__all__: list[str] = []
