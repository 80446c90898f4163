"""The configuration of a DeepSeekMoE layer, and DeepSeek-V3's from the facts registry.

Taught in chapter 4, "Dense and sparse: parameters and FLOPs per token". `MoEConfig` is a
keyword-only frozen dataclass whose fields are checked when it is made (`checks.MoEFieldChecks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.common.facts import fact
from labs.moe.checks import MoEFieldChecks

__all__ = ["DEEPSEEK_V3_MOE", "MoEConfig"]


@dataclass(frozen=True, kw_only=True)
class MoEConfig(MoEFieldChecks):
    """One DeepSeekMoE layer (V3 §2.1.2): `n_shared` shared experts every token passes through and
    `n_routed` fine-grained routed experts of width `d_expert`, of which each token uses `k`.

    Attributes:
        d_model: the model width D.
        d_expert: each expert's SwiGLU hidden width F.
        n_routed: routed experts E.
        n_shared: shared experts S (0 for a plain top-k MoE).
        k: routed experts per token (k <= n_routed).
    """

    d_model: int
    d_expert: int
    n_routed: int
    n_shared: int = 1
    k: int = 2


_V3 = fact("moe_v3_config").value
DEEPSEEK_V3_MOE = MoEConfig(
    d_model=_V3["d_model"],
    d_expert=_V3["d_expert"],
    n_routed=_V3["n_routed"],
    n_shared=_V3["n_shared"],
    k=_V3["k"],
)
