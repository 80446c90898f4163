"""Hidden cases of chapter 3: hand arithmetic (3.1) and the brute-force loops of the public
cases (3.2, 3.3)."""

from labs.common.exercises import Case
from labs.mla.config import DEEPSEEK_V3, AttentionConfig
from labs.mla.exercises import H800, SLOW_CPU, TPU_V5E, _repeat_case, _scores_case

# MQA with 64 heads of 128: 4 n_h d_h S FLOPs over 2 d_h S elements of 2 bytes = n_h = 64.
_MQA64 = AttentionConfig(kind="mqa", n_layers=1, d_model=8192, n_heads=64, head_dim=128)

HIDDEN = {
    # bytes per token: BF16 2 bytes an element; FP8 tiles t: n + 4 ceil(n / t) per vector
    "cache_bytes_per_token": (
        Case(
            ("mla", 61, 128, 128),
            40_016,
            kwargs={"kv_lora_rank": 512, "rope_head_dim": 64, "fp8_tile": 128},
            label="MLA, DeepSeek-V3 in FlashMLA's FP8 format: 61 x (512 + 4 x 4 + 64 x 2)",
        ),
        Case(
            ("mla", 61, 128, 128),
            70_272,
            kwargs={"kv_lora_rank": 512, "rope_head_dim": 64},
            label="MLA, DeepSeek-V3 in BF16: 61 x 576 x 2",
        ),
        Case(("gqa", 80, 8, 128), 327_680, label="GQA in BF16, 80 layers: 80 x 2 x 8 x 128 x 2"),
        Case(
            ("gqa", 80, 8, 128),
            184_320,
            kwargs={"fp8_tile": 32},
            label="GQA in FP8 tiles of 32, 80 layers: 80 x 2 x 8 x (128 + 4 x 4) = 80 x 16 x 144",
        ),
        Case(("mha", 1, 1, 1), 4, label="the smallest MHA in BF16: one K and one V element"),
        Case(
            ("mha", 1, 1, 1),
            10,
            kwargs={"fp8_tile": 128},
            label="the smallest MHA in FP8: 2 x (1 + 4), a scale per one-element tile",
        ),
        Case(
            ("mla", 4, 32, 64),
            4 * (100 + 4 * 4 + 8 * 2),
            kwargs={"kv_lora_rank": 100, "rope_head_dim": 8, "fp8_tile": 32},
            label="MLA in FP8 tiles of 32, d_c = 100: 4 x (100 + 4 x 4 + 16)",
        ),
    ),
    "repeat_kv": (
        _repeat_case(7, 3, 5, 12, "3 KV heads for 12 query heads", seed=21),
        _repeat_case(1, 2, 1, 16, "one token, 2 KV heads for 16 query heads", seed=22),
    ),
    "decode_bound": (
        # absorbed MLA: 2 n_h (d_c + d_h^R + d_c) / (2 (d_c + d_h^R)) = n_h x 1088 / 576 per byte
        Case((DEEPSEEK_V3, 2, *TPU_V5E), "memory", label="64 heads per TPU v5e: 120.9 < 240.5"),
        Case((_MQA64, 1, *H800), "memory", label="MQA, 64 heads on an H800: 64 < 295.4"),
        Case((_MQA64, 1, *SLOW_CPU), "compute", label="MQA, 64 heads on a CPU thread: 64 > 5"),
        Case(
            (DEEPSEEK_V3, 1, 500e12, 3.35e12),
            "compute",
            label="128 heads on a device of 500 TFLOP/s and 3.35 TB/s: 241.8 > 149.3",
        ),
    ),
    "absorbed_scores": (
        _scores_case(3, 5, 7, 6, "3 heads, d_h = 5, d_c = 7, 6 tokens", seed=31),
        _scores_case(8, 2, 64, 3, "8 heads, d_c much larger than d_h", seed=32),
    ),
}
FORBIDDEN = {
    "cache_bytes_per_token": (
        "labs.mla.cache_size.kv_cache_elements_per_token",
        "labs.mla.cache_size.kv_cache_elements_per_layer",
        "labs.mla.cache_size.kv_cache_bytes_per_token",
        "labs.mla.cache_size.mla_cache_bytes_per_layer",
    ),
    "absorbed_scores": (
        "labs.mla.rope.scores_absorbed_without_rotation",
        "labs.mla.rope.coupled_rope_scores",
    ),
}
