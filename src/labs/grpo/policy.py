"""Chapter 5's tiny policy in PyTorch: a small decoder-only transformer, its sampler, and the
log-probabilities GRPO needs. PPO's critic is the same trunk with a scalar head.

Taught in chapter 5, "Training on the toy task". Reached as `labs.grpo.torch.TinyPolicy` and
so on.

Axes: B sequences, P prompt tokens, N completion tokens, T tokens, V vocabulary, D model width.
"""

# jaxtyping shape strings ("B T") are not forward references:
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int

from labs.common.validate import instance, on_module_device, real_number
from labs.grpo.checks import (
    check_completions,
    check_ids,
    check_new_tokens,
    check_policy_call,
    check_policy_sizes,
    check_sampling,
)

__all__ = [
    "TinyPolicy",
    "ValueModel",
    "completion_logprobs",
    "greedy",
    "num_parameters",
    "sample",
]


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention and an MLP. (B, T, D) -> (B, T, D)."""

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

    def forward(self, x: Float[torch.Tensor, "B T D"]) -> Float[torch.Tensor, "B T D"]:
        b, t, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, d_head)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyPolicy(nn.Module):
    """A small decoder-only transformer: token ids (B, T) -> next-token logits (B, T, vocab).

    With `out_dim=1` the same trunk ends in one number per position instead: that is
    `ValueModel`, PPO's critic. Sizes are capped (vocabulary 65,536, max_len 4,096, width 1,024,
    48 layers) so that a mistyped size is refused instead of allocating gigabytes.
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
        vocab_size, max_len, d_model, n_layers, n_heads, out_dim = check_policy_sizes(
            vocab_size, max_len, d_model, n_layers, n_heads, out_dim
        )
        self.vocab_size, self.max_len = vocab_size, max_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, out_dim or vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, out_dim) of int64 ids (B, T <= max_len) below vocab_size, on the
        module's device."""
        ids = check_ids("ids", ids, self.vocab_size, self.max_len)
        on_module_device("the model", self, ("ids", ids))
        return self._forward(ids)

    def _forward(self, ids: Int[torch.Tensor, "B T"]) -> Float[torch.Tensor, "B T V"]:
        """Embed tokens and positions, run the blocks, project to the output."""
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


class ValueModel(TinyPolicy):
    """PPO's critic: the policy's architecture with a scalar head. (B, T) -> values (B, T)."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(vocab_size, out_dim=1, **kwargs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Values (B, T) of int64 ids (B, T <= max_len) below vocab_size, on the module's
        device."""
        return super().forward(ids).squeeze(-1)


def num_parameters(module: nn.Module) -> int:
    """Number of parameters of `module`."""
    instance("module", module, nn.Module, "a torch.nn.Module")
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
        policy: the TinyPolicy to sample from.
        prompts: (B, P) int64 token ids below the policy's vocabulary size.
        max_new_tokens: completion length N >= 1, with P + N <= the policy's max_len.
        eos_id, pad_id: token ids of the policy's vocabulary.
        generator: a torch.Generator for reproducible draws, or None.
        temperature: > 0; 0 is not allowed (use `greedy`).

    Returns:
        (completions, mask), both (B, N): the tokens (pad after the first <eos>) and 1 for the
        tokens the policy chose up to and including the first <eos>.
    """
    prompts = check_policy_call(policy, TinyPolicy, prompts)
    max_new_tokens = check_new_tokens(max_new_tokens, prompts.shape[1], policy.max_len)
    eos_id, pad_id, generator, temperature = check_sampling(
        eos_id, pad_id, generator, temperature, policy.vocab_size
    )
    return _sample(policy, prompts, max_new_tokens, eos_id, pad_id, generator, temperature)


@torch.no_grad()  # a rollout is data: the loss re-scores it, so sampling keeps no autograd graph
def _sample(
    policy: TinyPolicy,
    prompts: Int[torch.Tensor, "B P"],
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None,
    temperature: float,
) -> tuple[Int[torch.Tensor, "B N"], Bool[torch.Tensor, "B N"]]:
    """Draw each token from softmax(logits / temperature); pad after the first <eos>."""
    ids = prompts
    done = torch.zeros(prompts.shape[0], dtype=torch.bool, device=prompts.device)
    tokens, masks = [], []
    for _ in range(max_new_tokens):
        logits = policy._forward(ids)[:, -1] / temperature
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        masks.append(~done)
        tokens.append(nxt)
        done = done | (nxt == eos_id)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
    return torch.stack(tokens, dim=1), torch.stack(masks, dim=1)


@torch.no_grad()
def greedy(policy: TinyPolicy, prompts: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """The most likely completion, token by token: (B, P) -> (B, max_new_tokens).

    `max_new_tokens` must leave the prompt and the completion within the policy's max_len.
    """
    prompts = check_policy_call(policy, TinyPolicy, prompts)
    max_new_tokens = check_new_tokens(max_new_tokens, prompts.shape[1], policy.max_len)
    return _greedy(policy, prompts, max_new_tokens)


@torch.no_grad()
def _greedy(
    policy: TinyPolicy, prompts: Int[torch.Tensor, "B P"], max_new_tokens: int
) -> Int[torch.Tensor, "B N"]:
    """Append the argmax token max_new_tokens times."""
    ids = prompts
    for _ in range(max_new_tokens):
        ids = torch.cat([ids, policy._forward(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, prompts.shape[1] :]


def completion_logprobs(
    policy: TinyPolicy,
    prompts: torch.Tensor,
    completions: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log pi(o_t | q, o_<t) of each completion token: (B, P), (B, N) -> (B, N).

    pi is softmax(logits / temperature), the distribution `sample` draws from at that
    temperature: scoring a completion at another temperature than it was sampled at biases the
    policy gradient (the ratio and the KL would compare two different distributions).
    Prompt and completion together must fit the policy's max_len plus one (the last token is
    scored, never read).
    """
    prompts = check_policy_call(policy, TinyPolicy, prompts)
    completions = check_completions(completions, prompts, policy.vocab_size, policy.max_len)
    temperature = real_number("temperature", temperature, positive=True)
    return _completion_logprobs(policy, prompts, completions, temperature)


def _completion_logprobs(
    policy: TinyPolicy,
    prompts: Int[torch.Tensor, "B P"],
    completions: Int[torch.Tensor, "B N"],
    temperature: float = 1.0,
) -> Float[torch.Tensor, "B N"]:
    """One teacher-forced pass; gather log softmax(logits / temperature) at each token."""
    seq = torch.cat([prompts, completions], dim=1)
    logits = policy._forward(seq[:, :-1])[:, prompts.shape[1] - 1 :]
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)  # as `_sample` draws
    return logp.gather(-1, completions[..., None])[..., 0]
