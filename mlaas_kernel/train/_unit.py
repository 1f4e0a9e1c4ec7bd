"""L2Normalize: the layer that ends an embedding network (imported only where torch is wanted)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class L2Normalize(nn.Module):
    """Rows scaled to unit length (in float32, also under bf16 autocast)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.float(), dim=1)
