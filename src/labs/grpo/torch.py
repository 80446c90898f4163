"""Chapter 5 in PyTorch: the GRPO kernels (differentiable), a tiny policy and its sampler.

The kernels follow the NumPy reference in `labs.grpo` line for line; the parity tests feed all
three implementations the same inputs. The training loops (supervised warm-up and GRPO in
`labs.grpo.training`, the PPO baseline in `labs.grpo.ppo`) are reachable from here too:
`train_grpo`, `train_ppo`, `warm_up`, `evaluate`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from labs.common.validate import integer, real_number, same_shape
from labs.grpo import check_loss_settings

__all__ = [
    "TinyPolicy",
    "ValueModel",
    "completion_logprobs",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "sample",
]


# --- The three kernels --------------------------------------------------------------------------


def _float_tensor(name: str, x, min_dim: int = 0) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return x


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """(r - group mean) / (group std, ddof = 1, + eps); all-equal groups get exactly 0.

    Args:
        rewards: shape (n * group_size,), consecutive runs of `group_size` form a group.

    Returns:
        Advantages, shape and dtype of `rewards` (no gradient flows to rewards in GRPO, but the
        function is differentiable where the group is not flat).
    """
    rewards = _float_tensor("rewards", rewards, min_dim=1)
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(rewards.shape)}")
    group_size = integer("group_size", group_size, minimum=2)
    eps = real_number("eps", eps, positive=True)
    if rewards.numel() % group_size:
        raise ValueError(
            f"len(rewards) must be a multiple of group_size={group_size}, got {rewards.numel()}"
        )
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, correction=1, keepdim=True)
    flat = groups.amax(dim=1, keepdim=True) == groups.amin(dim=1, keepdim=True)
    adv = torch.where(flat, torch.zeros_like(groups), centred / (std + eps))
    return adv.reshape(-1)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token pi_ref/pi - log(pi_ref/pi) - 1 (DeepSeekMath eq. 4), never negative.

    Args:
        logp, ref_logp: log-probabilities of the same tokens, any equal shapes.
    """
    logp = _float_tensor("logp", logp)
    ref_logp = _float_tensor("ref_logp", ref_logp)
    same_shape(("logp", logp), ("ref_logp", ref_logp))
    return _k3(ref_logp - logp)


def _k3(d: torch.Tensor) -> torch.Tensor:
    return (torch.expm1(d) - d).clamp_min(0.0)


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    *,
    group_size: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DeepSeekMath eq. 3 as a loss to minimise; see `labs.grpo.grpo_loss` for the definition.

    Args:
        logp: (B, T) log pi_theta of the sampled tokens (carries the gradient).
        old_logp, ref_logp: (B, T), treated as constants.
        advantages: (B,) or (B, T).
        mask: (B, T) bool or 0/1.

    Returns:
        (loss, stats): a scalar tensor with a gradient, and a dict of floats ("clip_fraction",
        "kl", "zero_adv_fraction", "ratio_mean").
    """
    logp = _float_tensor("logp", logp)
    if logp.dim() != 2:
        raise ValueError(f"logp must have shape (B, T), got {tuple(logp.shape)}")
    old_logp = _float_tensor("old_logp", old_logp).detach()
    ref_logp = _float_tensor("ref_logp", ref_logp).detach()
    advantages = _float_tensor("advantages", advantages).detach()
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    same_shape(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp), ("mask", mask))
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    clip_eps, beta, group_size = check_loss_settings(
        tuple(logp.shape), tuple(advantages.shape), clip_eps, beta, group_size
    )
    mask = mask.bool()
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    zero = torch.zeros_like(logp)
    ratio = torch.exp(torch.where(mask, logp - old_logp, zero))
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = torch.minimum(ratio * adv, clipped * adv)
    kl = _k3(torch.where(mask, ref_logp - logp, zero))
    per_token = -(surrogate - beta * kl)

    counts = mask.sum(dim=1)
    has_tokens = counts > 0
    n_seq = int(has_tokens.sum())

    def seq_mean(values: torch.Tensor) -> torch.Tensor:
        per_seq = torch.where(mask, values, zero).sum(dim=1) / counts.clamp_min(1)
        return per_seq[has_tokens].sum() / max(n_seq, 1)

    with torch.no_grad():
        is_clipped = ((adv > 0) & (ratio > 1 + clip_eps)) | ((adv < 0) & (ratio < 1 - clip_eps))
        n_tok = int(mask.sum())
        zero_seq = (adv == 0).all(dim=1).view(-1, group_size or 1)
        stats = {
            "clip_fraction": float((is_clipped & mask).sum()) / n_tok if n_tok else 0.0,
            "kl": float(seq_mean(kl)),
            "zero_adv_fraction": float(zero_seq.all(dim=1).float().mean()),
            "ratio_mean": float(torch.where(mask, ratio, zero).sum()) / n_tok if n_tok else 0.0,
        }
    return seq_mean(per_token), stats


# --- A tiny GPT policy ------------------------------------------------------------------------


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention and an MLP. (B, T, d) -> (B, T, d)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, d_head)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyPolicy(nn.Module):
    """A small decoder-only transformer: token ids (B, T) -> next-token logits (B, T, vocab).

    With `out_dim=1` the same trunk ends in one number per position instead: that is
    `ValueModel`, PPO's critic.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        max_len: int = 16,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        out_dim: int | None = None,
    ):
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("max_len", max_len),
            ("d_model", d_model),
            ("n_layers", n_layers),
            ("n_heads", n_heads),
        ):
            integer(name, value, minimum=1)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.vocab_size, self.max_len = vocab_size, max_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, out_dim or vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _check_ids("ids", ids)
        if ids.shape[1] > self.max_len:
            raise ValueError(f"ids must have shape (B, T <= {self.max_len}), got {ids.shape}")
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


class ValueModel(TinyPolicy):
    """PPO's critic: the policy's architecture with a scalar head. (B, T) -> values (B, T)."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(vocab_size, out_dim=1, **kwargs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return super().forward(ids).squeeze(-1)


def _check_ids(name: str, ids) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
    if ids.dtype != torch.long:
        raise TypeError(f"{name} must hold int64 token ids, got dtype {ids.dtype}")
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (B, T), got {tuple(ids.shape)}")
    return ids


def _check_model(policy) -> None:
    if not isinstance(policy, TinyPolicy):
        raise TypeError(f"policy must be a TinyPolicy, got {type(policy).__name__}")


def num_parameters(module: nn.Module) -> int:
    """Number of parameters of `module`."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def sample(
    policy: TinyPolicy,
    prompts: torch.Tensor,
    max_new_tokens: int,
    *,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample completions token by token.

    Args:
        prompts: (B, P) token ids, all of the same length.
        max_new_tokens: completion length N.
        temperature: > 0; 0 is not allowed (use `greedy`).

    Returns:
        (completions, mask), both (B, N): the tokens (pad after the first <eos>) and 1 for the
        tokens the policy chose up to and including the first <eos>.
    """
    _check_model(policy)
    _check_ids("prompts", prompts)
    integer("max_new_tokens", max_new_tokens, minimum=1)
    temperature = real_number("temperature", temperature, positive=True)
    ids = prompts
    done = torch.zeros(prompts.shape[0], dtype=torch.bool, device=prompts.device)
    tokens, masks = [], []
    for _ in range(max_new_tokens):
        logits = policy(ids)[:, -1] / temperature
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        masks.append(~done)
        tokens.append(nxt)
        done = done | (nxt == eos_id)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
    return torch.stack(tokens, dim=1), torch.stack(masks, dim=1)


@torch.no_grad()
def greedy(policy: TinyPolicy, prompts: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """The most likely completion, token by token: (B, P) -> (B, max_new_tokens)."""
    _check_model(policy)
    _check_ids("prompts", prompts)
    integer("max_new_tokens", max_new_tokens, minimum=1)
    ids = prompts
    for _ in range(max_new_tokens):
        ids = torch.cat([ids, policy(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, prompts.shape[1] :]


def completion_logprobs(
    policy: TinyPolicy, prompts: torch.Tensor, completions: torch.Tensor
) -> torch.Tensor:
    """log pi(o_t | q, o_<t) of each completion token: (B, P), (B, N) -> (B, N)."""
    _check_model(policy)
    _check_ids("prompts", prompts)
    _check_ids("completions", completions)
    if completions.shape[0] != prompts.shape[0]:
        raise ValueError(
            f"completions must have {prompts.shape[0]} rows like prompts, "
            f"got {completions.shape[0]}"
        )
    seq = torch.cat([prompts, completions], dim=1)
    logits = policy(seq[:, :-1])[:, prompts.shape[1] - 1 :]
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, completions[..., None])[..., 0]


_LOOPS = {
    "TrainLog": "training",
    "evaluate": "training",
    "measure_step": "training",
    "new_policy": "training",
    "train_grpo": "training",
    "warm_up": "training",
    "gae": "ppo",
    "train_ppo": "ppo",
}
__all__ += ["greedy", "num_parameters", *_LOOPS]


def __getattr__(name: str):
    # The training loops live in labs.grpo.training and labs.grpo.ppo (they use the kernels
    # above); they are reachable from here as labs.grpo.torch.train_grpo and so on.
    if name in _LOOPS:
        import importlib

        return getattr(importlib.import_module(f"labs.grpo.{_LOOPS[name]}"), name)
    raise AttributeError(f"module 'labs.grpo.torch' has no attribute {name!r}")
