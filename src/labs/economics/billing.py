"""What an API bills for a request, prompt included, and what a node serves when it reads prompts.

Taught in chapter 7, "Self-host or call an API? The break-even" ("Billing the prompt"). An API
bills the prompt (input) tokens of a request as well as its output tokens; a prompt token whose
prefix the provider's cache already holds is billed at a lower price. With L_in prompt and L_out
output tokens, a share h of the prompt hitting the cache, and prices p_hit, p_miss, p_out in USD per
million tokens:

    R     = [L_in (h p_hit + (1 - h) p_miss) + L_out p_out] / 10^6   USD per request     (4'')
    p_eff = R / L_out x 10^6 = p_out + (L_in / L_out) (h p_hit + (1 - h) p_miss)

p_eff is the API's bill per million *output* tokens once the prompts are counted: put in place of
p_api in eq. (4') it gives the break-even counted in output tokens, as the chapter counts them.
A self-hosted node that bills no prompts must still read them. If it spends L_in / r_pre seconds
on each request's prompt and L_out / r_dec on its output (r_pre, r_dec its prefill and decode
rates in tokens per second), it serves

    r = 1 / (rho / r_pre + 1 / r_dec)   output tokens per second, rho = L_in / L_out.

Prices come from the facts registry (`DEEPSEEK_API_PRICES`, with their date in each fact's note).

A margin sets a revenue R beside a cost C, and "margin" names three different ratios (chapter 7,
"Claim check"): profit over cost, (R - C) / C, the markup DeepSeek calls a "cost profit margin";
revenue over cost, R / C; and profit over revenue, (R - C) / R, the usual profit margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labs.common.facts import fact
from labs.common.validate import one_of, read_only, real_number, text

__all__ = [
    "DEEPSEEK_API_PRICES",
    "MARGIN_DEFINITIONS",
    "ApiPrices",
    "margin",
    "output_tokens_per_second_with_prefill",
]

# A list price above $100,000 per million tokens, or a request or day of more than 10^15 tokens,
# is a unit mistake (a price per token typed as per million, a count in bytes); the caps also keep
# every product below overflow.
MAX_USD_PER_M = 1e5
MAX_TOKENS = 1e15
MAX_TOKENS_PER_SECOND = 1e9  # per node: four orders of magnitude above DeepSeek's H800 nodes
MAX_USD = 1e15  # a revenue or cost above 10^15 USD is a unit mistake (cents, or a token count)

# The three readings of "margin" (module docstring), the first DeepSeek's "cost profit margin".
MARGIN_DEFINITIONS = ("profit over cost", "revenue over cost", "profit over revenue")


@dataclass(frozen=True, kw_only=True)
class ApiPrices:
    """One API model's list prices, in USD per million tokens.

    Attributes:
        model: the API's model name, e.g. "deepseek-chat".
        input_miss_usd_per_m: a prompt token not found in the provider's cache (> 0).
        input_hit_usd_per_m: a prompt token whose prefix the cache holds (> 0, at most the miss
            price: a cache hit dearer than a miss is a swapped pair).
        output_usd_per_m: an output token (> 0).
    """

    model: str
    input_miss_usd_per_m: float
    input_hit_usd_per_m: float
    output_usd_per_m: float

    def __post_init__(self) -> None:
        text("model", self.model)
        miss, hit, out = (
            real_number(name, getattr(self, name), positive=True, maximum=MAX_USD_PER_M)
            for name in ("input_miss_usd_per_m", "input_hit_usd_per_m", "output_usd_per_m")
        )
        if hit > miss:
            raise ValueError(
                f"input_hit_usd_per_m must be at most input_miss_usd_per_m ({miss}), got {hit}: "
                "a cache hit billed above a miss is most likely the two prices swapped"
            )

    def usd_per_request(
        self, prompt_tokens: float, output_tokens: float, cache_hit_share: float
    ) -> float:
        """Eq. (4''): what the API bills for `prompt_tokens` in and `output_tokens` out, in USD.

        `cache_hit_share` (0 to 1) of the prompt is billed at the cache-hit price, the rest at the
        miss price. Token counts may be averages or a day's totals (at most 10^15); the prompt
        may be empty, the output may not (a request that writes nothing has no output price).
        """
        prompt, output, share = _check_request(prompt_tokens, output_tokens, cache_hit_share)
        return _usd_per_request(
            prompt,
            output,
            share,
            self.input_miss_usd_per_m,
            self.input_hit_usd_per_m,
            self.output_usd_per_m,
        )

    def usd_per_million_output_tokens(
        self, prompt_tokens_per_output_token: float, cache_hit_share: float
    ) -> float:
        """p_eff: the bill per million output tokens with the prompts counted (eq. 4'').

        Equal to `output_usd_per_m` when `prompt_tokens_per_output_token` is 0; it grows by the
        mean price of a prompt token for every prompt token per output token.
        """
        ratio = real_number(
            "prompt_tokens_per_output_token",
            prompt_tokens_per_output_token,
            nonnegative=True,
            maximum=MAX_TOKENS,
        )
        share = _check_share(cache_hit_share)
        return (
            _usd_per_request(
                ratio,
                1.0,
                share,
                self.input_miss_usd_per_m,
                self.input_hit_usd_per_m,
                self.output_usd_per_m,
            )
            * 1e6
        )  # one output token's request, per million output tokens


def _check_share(cache_hit_share) -> float:
    return real_number("cache_hit_share", cache_hit_share, minimum=0.0, maximum=1.0)


def _check_request(prompt_tokens, output_tokens, cache_hit_share) -> tuple[float, float, float]:
    prompt = real_number("prompt_tokens", prompt_tokens, nonnegative=True, maximum=MAX_TOKENS)
    output = real_number("output_tokens", output_tokens, positive=True, maximum=MAX_TOKENS)
    return prompt, output, _check_share(cache_hit_share)


def _usd_per_request(
    prompt: float, output: float, hit_share: float, miss_usd: float, hit_usd: float, out_usd: float
) -> float:
    """Eq. (4''), prices per million tokens."""
    prompt_usd = hit_share * hit_usd + (1.0 - hit_share) * miss_usd  # mean price of a prompt token
    return (prompt * prompt_usd + output * out_usd) / 1e6  # eq. (4'')


def output_tokens_per_second_with_prefill(
    decode_tokens_per_second: float,
    prefill_tokens_per_second: float,
    prompt_tokens_per_output_token: float,
) -> float:
    """Output tokens per second of a node that also reads the prompts it answers.

    The node spends `prompt_tokens_per_output_token / prefill_tokens_per_second` seconds on the
    prompt behind each output token and `1 / decode_tokens_per_second` on the token itself, one
    after the other: r = 1 / (rho / r_pre + 1 / r_dec). With no prompt it is the decode rate. The
    prefill rate is per prompt token as measured (DeepSeek's counts cache hits too, which read
    their KV cache from disk instead of computing it).

    Raises:
        ValueError: a rate that is not > 0 (or above 10^9 tokens per second), or a negative ratio.
    """
    decode = real_number(
        "decode_tokens_per_second",
        decode_tokens_per_second,
        positive=True,
        maximum=MAX_TOKENS_PER_SECOND,
    )
    prefill = real_number(
        "prefill_tokens_per_second",
        prefill_tokens_per_second,
        positive=True,
        maximum=MAX_TOKENS_PER_SECOND,
    )
    ratio = real_number(
        "prompt_tokens_per_output_token",
        prompt_tokens_per_output_token,
        nonnegative=True,
        maximum=MAX_TOKENS,
    )
    return _output_tokens_per_second_with_prefill(decode, prefill, ratio)


def _output_tokens_per_second_with_prefill(decode: float, prefill: float, ratio: float) -> float:
    """Seconds per output token: its prompt share read, then the token written."""
    return 1.0 / (ratio / prefill + 1.0 / decode)


def margin(revenue_usd: float, cost_usd: float, *, definition: str) -> float:
    """A revenue set beside a cost, under one of `MARGIN_DEFINITIONS`, as a fraction (5.45 = 545 %).

    "profit over cost" is (R - C) / C, a markup: what DeepSeek's inference overview calls a "cost
    profit margin"; "revenue over cost" is R / C; "profit over revenue" is (R - C) / R, the usual
    profit margin, which never exceeds 1. The definition has no default: the three differ by
    factors of several on the same day, and the point of naming one is to say which was meant.

    Raises:
        ValueError: a revenue below 0 (or 0 under "profit over revenue", which divides by it), a
            cost not > 0, either above 10^15 USD, or a definition not in `MARGIN_DEFINITIONS`.
        TypeError: a revenue or cost that is not a real number.
    """
    revenue = real_number("revenue_usd", revenue_usd, nonnegative=True, maximum=MAX_USD)
    cost = real_number("cost_usd", cost_usd, positive=True, maximum=MAX_USD)
    one_of("definition", definition, MARGIN_DEFINITIONS)
    if definition == "profit over revenue" and revenue == 0:
        raise ValueError(
            "revenue_usd must be > 0 under definition 'profit over revenue' (it divides by the "
            "revenue), got 0.0"
        )
    return _margin(revenue, cost, definition)


def _margin(revenue: float, cost: float, definition: str) -> float:
    """(R - C) / C, R / C or (R - C) / R."""
    if definition == "profit over cost":
        return (revenue - cost) / cost  # a markup: DeepSeek's "cost profit margin"
    if definition == "revenue over cost":
        return revenue / cost
    return (revenue - cost) / revenue  # profit over revenue


def _deepseek_prices(model: str, prefix: str) -> ApiPrices:
    return ApiPrices(
        model=model,
        input_miss_usd_per_m=fact(f"{prefix}_input_miss_usd_per_m").value,
        input_hit_usd_per_m=fact(f"{prefix}_input_hit_usd_per_m").value,
        output_usd_per_m=fact(f"{prefix}_output_usd_per_m").value,
    )


# DeepSeek's list prices for the two models the chapter uses (standard hours, February 2025).
DEEPSEEK_API_PRICES: Mapping[str, ApiPrices] = read_only(
    {
        "deepseek-chat": _deepseek_prices("deepseek-chat", "econ_deepseek_v3_api"),
        "deepseek-reasoner": _deepseek_prices("deepseek-reasoner", "econ_deepseek_r1_api"),
    }
)
