"""The registry of external constants: every number the course takes from outside, with its source.

A chapter never types a paper's number inline. It asks `fact("key")` and gets the value with its
unit, the BibTeX key of its source (in book/references.bib) and a locator (table, section,
equation). A test checks that every citation key exists in the bibliography, so a number without a
source cannot enter the book.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One external constant.

    Attributes:
        key: the registry name, e.g. "float32_max".
        value: the number (or tuple of numbers) as published.
        unit: its unit, "" for a pure number.
        cite: BibTeX key in book/references.bib.
        locator: where in the source: "Table 1", "§3.3", "eq. 10".
        note: anything a reader needs to use it correctly.
    """

    key: str
    value: float | int | tuple
    unit: str
    cite: str
    locator: str
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("key", "cite", "locator"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(
                    f"Fact.{name} must be a non-empty string, got {getattr(self, name)!r}"
                )

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.key} = {self.value}{unit}  [{self.cite}, {self.locator}]"


_FACTS = [
    # --- Floating-point formats (used from the tour on) -------------------------------------
    Fact(
        "float32_max",
        3.4028234663852886e38,
        "",
        "ieee754_2019",
        "§3.3, Table 3.5 (binary32)",
        "largest finite binary32 value, (2 - 2**-23) * 2**127",
    ),
    Fact(
        "float16_max",
        65504.0,
        "",
        "ieee754_2019",
        "§3.3, Table 3.5 (binary16)",
        "largest finite binary16 value, (2 - 2**-10) * 2**15",
    ),
    # --- Chapter 1: scaling laws (labs.scaling) ----------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "chinchilla_E",
        1.69,
        "nats/token",
        "hoffmann2022",
        "eq. 10 (§3.3)",
        "irreducible loss of the published parametric fit (rounded as printed)",
    ),
    Fact("chinchilla_A", 406.4, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_B", 410.7, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_alpha", 0.34, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_beta", 0.28, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact(
        "chinchilla_huber_delta",
        1e-3,
        "",
        "hoffmann2022",
        "App. D.2",
        "Huber threshold on log-space residuals",
    ),
    Fact(
        "chinchilla_init_grid_exponents",
        (0.0, 0.5, 1.0, 1.5, 2.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of alpha and beta",
    ),
    Fact(
        "chinchilla_init_grid_e",
        (-1.0, -0.5, 0.0, 0.5, 1.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of e = log E",
    ),
    Fact(
        "chinchilla_init_grid_ab",
        (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of a = log A and b = log B",
    ),
    Fact(
        "chinchilla_table2_a",
        (0.50, 0.49, 0.46),
        "",
        "hoffmann2022",
        "Table 2",
        "exponent a in N_opt ~ C^a from approaches 1, 2 and 3",
    ),
    Fact(
        "chinchilla_model_params", 70e9, "parameters", "hoffmann2022", "§4.1", "Chinchilla's size"
    ),
    Fact(
        "chinchilla_model_tokens",
        1.4e12,
        "tokens",
        "hoffmann2022",
        "§4.1",
        "Chinchilla's training tokens",
    ),
    Fact(
        "flops_per_param_token",
        6,
        "FLOP",
        "kaplan2020",
        "§2.1",
        "training compute C ~ 6 N D (forward 2ND, backward 4ND)",
    ),
    Fact("kaplan_alpha_N", 0.076, "", "kaplan2020", "§1.2, eq. 1.1"),
    Fact("kaplan_alpha_D", 0.095, "", "kaplan2020", "§1.2, eq. 1.2"),
    Fact("kaplan_alpha_C_min", 0.050, "", "kaplan2020", "§1.2, eq. 1.3"),
    Fact(
        "kaplan_n_opt_exponent",
        0.73,
        "",
        "kaplan2020",
        "§6.1",
        "compute-efficient model size N ~ C_min^0.73",
    ),
    Fact("epoch_fit_E", 1.82, "nats/token", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_A", 482.01, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_B", 2085.43, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_alpha", 0.3478, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_beta", 0.3658, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact(
        "epoch_excluded_points",
        5,
        "runs",
        "epoch_chinchilla_data",
        "analysis code",
        "the replication drops the 5 highest-loss runs before fitting",
    ),
    # --- Chapter 2: FP8 (labs.fp8) -----------------------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "fp8_e4m3_max",
        448.0,
        "",
        "micikevicius2022",
        "Table 1",
        "largest finite E4M3 value, 1.75 * 2**8 (no infinities; S.1111.111 is NaN)",
    ),
    Fact(
        "fp8_e5m2_max",
        57344.0,
        "",
        "micikevicius2022",
        "Table 1",
        "largest finite E5M2 value, 1.75 * 2**15 (IEEE-like: inf and NaN kept)",
    ),
    Fact(
        "fp8_e4m3_min_subnormal",
        2.0**-9,
        "",
        "micikevicius2022",
        "Table 1",
        "smallest positive E4M3 value",
    ),
    Fact(
        "fp8_e5m2_min_subnormal",
        2.0**-16,
        "",
        "micikevicius2022",
        "Table 1",
        "smallest positive E5M2 value",
    ),
    Fact(
        "v3_fp8_tile",
        (1, 128),
        "elements",
        "deepseekv3",
        "§3.3.2, Fine-Grained Quantization",
        "activations are scaled per 1 x 128 tile (per token, per 128 channels)",
    ),
    Fact(
        "v3_fp8_block",
        (128, 128),
        "elements",
        "deepseekv3",
        "§3.3.2, Fine-Grained Quantization",
        "weights are scaled per 128 x 128 block (128 input by 128 output channels)",
    ),
    Fact(
        "v3_accumulator_bits",
        14,
        "bits",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "FP8 GEMM accumulation on H800 tensor cores retains 'around 14 bits'",
    ),
    Fact(
        "v3_accumulation_error_k",
        4096,
        "",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "the inner dimension K of the GEMM for which V3 quotes its accumulation error",
    ),
    Fact(
        "v3_accumulation_max_error",
        0.02,
        "",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "'a maximum relative error of nearly 2%' at K = 4096 without promotion",
    ),
    Fact(
        "v3_promotion_interval",
        128,
        "elements",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "N_C: partial sums are copied to FP32 registers on CUDA cores every 128 elements of K",
    ),
    Fact(
        "v3_fp8_relative_loss_error",
        0.0025,
        "",
        "deepseekv3",
        "§3.3 and Appendix B.1",
        "FP8 vs BF16 training: relative loss error 'consistently below 0.25%'",
    ),
    Fact(
        "v3_fp8_validation_runs",
        ((16e9, 1.33e12), (230e9, 0.9e12)),
        "(parameters, tokens)",
        "deepseekv3",
        "Appendix B.1",
        "the two FP8-vs-BF16 validation runs: about 16B params on 1.33T tokens, 230B on 0.9T",
    ),
    # --- Chapter 3: MLA (labs.mla) -----------------------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "deepseek67b_attention",
        (95, 8192, 64, 128, 8),
        "(layers, d_model, query heads, head dim, KV heads)",
        "deepseek67b2024",
        "Table 2",
        "DeepSeek LLM 67B uses grouped-query attention with 8 KV heads; head dim = 8192 / 64",
    ),
    Fact(
        "deepseek67b_params",
        67e9,
        "parameters",
        "deepseek67b2024",
        "Table 2",
        "nominal size as published",
    ),
    Fact(
        "deepseekv2_attention",
        (60, 5120, 128, 128, 512, 1536, 64),
        "(layers, d_model, heads, head dim, d_c, d_c', d_h^R)",
        "deepseekv2",
        "§3.1.2",
        "MLA: KV compression dim d_c, query compression dim d_c', decoupled RoPE dim d_h^R",
    ),
    Fact(
        "deepseekv2_params",
        (236e9, 21e9),
        "parameters (total, activated per token)",
        "deepseekv2",
        "§3.1.2",
        "mixture of experts: every parameter is stored, 21B are used per token",
    ),
    Fact(
        "deepseekv3_attention",
        (61, 7168, 128, 128, 512, 1536, 64),
        "(layers, d_model, heads, head dim, d_c, d_c', d_h^R)",
        "deepseekv3",
        "§4.2",
        "same MLA shape as DeepSeek-V2, one more layer, wider model",
    ),
    Fact(
        "llama2_70b_attention",
        (80, 8192, 64, 128, 8),
        "(layers, d_model, query heads, head dim, KV heads)",
        "touvron2023llama2",
        "§2.2 and Table 1 (GQA for 70B); App. A.2.1 (8 KV projections)",
        "layer count and width as in the released 70B configuration",
    ),
    Fact(
        "deepseekv2_kv_cache_reduction",
        0.933,
        "fraction",
        "deepseekv2",
        "Abstract; §1; Figure 1(b)",
        "KV cache of deployed DeepSeek-V2 against DeepSeek 67B: 'reduces the KV cache by 93.3%'",
    ),
    Fact(
        "deepseekv2_kv_cache_bits",
        6,
        "bits per element (average)",
        "deepseekv2",
        "§3.2.3 (inference efficiency)",
        "deployed V2 quantises its KV cache to about 6 bits per element on average",
    ),
    Fact(
        "deepseekv2_weight_bits",
        8,
        "bits per parameter",
        "deepseekv2",
        "§3.2.3 (inference efficiency)",
        "deployed V2 converts its parameters to FP8",
    ),
    Fact(
        "deepseekv2_mla_equivalent_gqa_groups",
        2.25,
        "groups",
        "deepseekv2",
        "Table 1",
        "MLA's cache (d_c + d_h^R) l = (9/2) d_h l equals GQA's 2 n_g d_h l at n_g = 2.25",
    ),
    # --- Chapter 5: GRPO (labs.grpo) ---------------------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "grpo_group_size",
        64,
        "outputs per question",
        "deepseekmath",
        "§4.2",
        "G: outputs sampled for each question in GRPO training",
    ),
    Fact("grpo_kl_beta", 0.04, "", "deepseekmath", "§4.2", "KL coefficient beta of eq. 3"),
    Fact(
        "grpo_learning_rate", 1e-6, "", "deepseekmath", "§4.2", "learning rate of the policy model"
    ),
    Fact(
        "grpo_max_length",
        1024,
        "tokens",
        "deepseekmath",
        "§4.2",
        "maximum length of a sampled output",
    ),
    Fact("grpo_batch_size", 1024, "", "deepseekmath", "§4.2", "training batch size"),
    Fact(
        "grpo_policy_params",
        7e9,
        "parameters",
        "deepseekmath",
        "§1, §4.2",
        "DeepSeekMath-Instruct 7B, the policy GRPO trains",
    ),
    Fact(
        "grpo_r1_policy_params",
        671e9,
        "parameters",
        "deepseekv3",
        "Abstract",
        "DeepSeek-V3-Base, total parameters; DeepSeek-R1 is trained from it with GRPO",
    ),
    Fact(
        "grpo_ppo_clip_eps",
        0.2,
        "",
        "schulman2017",
        "§6.1, Table 1",
        "the clip range that scored best in the PPO paper's comparison",
    ),
    Fact(
        "grpo_mixed_adam_bytes_per_param",
        16,
        "bytes",
        "rajbhandari2020",
        "§3.1",
        "fp16/bf16 weights (2) and gradients (2) + fp32 master weights, momentum, variance (12)",
    ),
    Fact(
        "grpo_bf16_bytes_per_param",
        2,
        "bytes",
        "rajbhandari2020",
        "§3.1",
        "a frozen model kept in 16-bit weights only",
    ),
    # --- Chapter 7: economics and hardware (labs.economics) ----------------------------------
    # (add this chapter's facts below this line)
    # Hardware registry. Peaks are dense (no 2:4 sparsity): NVIDIA datasheets print the sparse
    # figure for Hopper and Ada, twice the dense one. Interconnect: aggregate bidirectional
    # bandwidth per chip (NVLink for SXM parts, PCIe for cards without NVLink, ICI for the TPU).
    Fact(
        "econ_h100_sxm_bf16_tflops",
        989.5,
        "TFLOP/s",
        "nvidia_h100_datasheet",
        "specifications table, H100 SXM, BF16 Tensor Core",
        "dense; the datasheet prints 1,979 with sparsity",
    ),
    Fact(
        "econ_h100_sxm_fp8_tflops",
        1979.0,
        "TFLOP/s",
        "nvidia_h100_datasheet",
        "specifications table, H100 SXM, FP8 Tensor Core",
        "dense; the datasheet prints 3,958 with sparsity",
    ),
    Fact(
        "econ_h100_sxm_memory_gbs",
        3350.0,
        "GB/s",
        "nvidia_h100_datasheet",
        "specifications table, H100 SXM, GPU memory bandwidth",
        "3.35 TB/s of HBM3",
    ),
    Fact(
        "econ_h100_sxm_interconnect_gbs",
        900.0,
        "GB/s",
        "nvidia_h100_datasheet",
        "specifications table, H100 SXM, interconnect",
        "NVLink, aggregate bidirectional",
    ),
    Fact(
        "econ_h800_sxm_bf16_tflops",
        989.5,
        "TFLOP/s",
        "nvidia_h800_datasheet",
        "specifications table, H800 SXM, BF16 Tensor Core",
        "dense; the datasheet prints 1,979 with sparsity (the same as the H100 SXM)",
    ),
    Fact(
        "econ_h800_sxm_fp8_tflops",
        1979.0,
        "TFLOP/s",
        "nvidia_h800_datasheet",
        "specifications table, H800 SXM, FP8 Tensor Core",
        "dense; the datasheet prints 3,958 with sparsity (the same as the H100 SXM)",
    ),
    Fact(
        "econ_h800_sxm_memory_gbs",
        3350.0,
        "GB/s",
        "nvidia_h800_datasheet",
        "specifications table, H800 SXM, GPU memory bandwidth",
        "3.35 TB/s, as the H100 SXM",
    ),
    Fact(
        "econ_h800_sxm_interconnect_gbs",
        400.0,
        "GB/s",
        "nvidia_h800_datasheet",
        "specifications table, H800 SXM, interconnect",
        "NVLink, aggregate bidirectional: the figure the export rules cut",
    ),
    Fact(
        "econ_a100_sxm_bf16_tflops",
        312.0,
        "TFLOP/s",
        "nvidia_a100_datasheet",
        "specifications table, A100 80GB SXM, BF16 Tensor Core",
        "dense (624 with sparsity); the A100 has no FP8",
    ),
    Fact(
        "econ_a100_sxm_memory_gbs",
        2039.0,
        "GB/s",
        "nvidia_a100_datasheet",
        "specifications table, A100 80GB SXM, GPU memory bandwidth",
    ),
    Fact(
        "econ_a100_sxm_interconnect_gbs",
        600.0,
        "GB/s",
        "nvidia_a100_datasheet",
        "specifications table, A100 SXM, interconnect",
        "NVLink, aggregate bidirectional",
    ),
    Fact(
        "econ_l4_bf16_tflops",
        121.0,
        "TFLOP/s",
        "nvidia_l4_datasheet",
        "specifications table, BF16 Tensor Core",
        "dense; the datasheet prints 242 with sparsity",
    ),
    Fact(
        "econ_l4_fp8_tflops",
        242.5,
        "TFLOP/s",
        "nvidia_l4_datasheet",
        "specifications table, FP8 Tensor Core",
        "dense; the datasheet prints 485 with sparsity",
    ),
    Fact(
        "econ_l4_memory_gbs",
        300.0,
        "GB/s",
        "nvidia_l4_datasheet",
        "specifications table, GPU memory bandwidth",
    ),
    Fact(
        "econ_l4_interconnect_gbs",
        64.0,
        "GB/s",
        "nvidia_l4_datasheet",
        "specifications table, interconnect",
        "PCIe Gen4 x16, bidirectional; no NVLink",
    ),
    Fact(
        "econ_t4_fp16_tflops",
        65.0,
        "TFLOP/s",
        "nvidia_t4_datasheet",
        "specifications table, mixed-precision (FP16/FP32)",
        "the T4 (Turing) has neither BF16 nor FP8 tensor cores; FP16 is its half precision",
    ),
    Fact(
        "econ_t4_memory_gbs",
        320.0,
        "GB/s",
        "nvidia_t4_datasheet",
        "specifications table, GPU memory bandwidth",
        "the datasheet says 320+ GB/s",
    ),
    Fact(
        "econ_t4_interconnect_gbs",
        32.0,
        "GB/s",
        "nvidia_t4_datasheet",
        "specifications table, interconnect",
        "PCIe Gen3 x16, bidirectional; no NVLink",
    ),
    Fact(
        "econ_tpu_v5e_bf16_tflops",
        197.0,
        "TFLOP/s",
        "gcp_tpu_v5e",
        "system architecture, key chip specifications",
        "per chip; v5e has no FP8 (its 8-bit peak is int8, 394 TOPS)",
    ),
    Fact(
        "econ_tpu_v5e_memory_gbs",
        819.0,
        "GB/s",
        "gcp_tpu_v5e",
        "system architecture, key chip specifications",
        "HBM2, 16 GB per chip",
    ),
    Fact(
        "econ_tpu_v5e_interconnect_gbs",
        400.0,
        "GB/s",
        "gcp_tpu_v5e",
        "system architecture, key chip specifications",
        "inter-chip interconnect (ICI), bidirectional per chip (1,600 Gbps in older versions)",
    ),
    # Rental prices. Only the H800 figure comes from a paper, and even there it is the paper's
    # assumption. The others are round figures chosen by the course, not quotes.
    Fact(
        "econ_h800_usd_per_hour",
        2.0,
        "USD per GPU-hour",
        "deepseekv3",
        "Table 1 and §1",
        "assumption: the rental price the V3 report assumes, not a price DeepSeek paid",
    ),
    Fact(
        "econ_h100_usd_per_hour",
        2.5,
        "USD per GPU-hour",
        "course_price_assumptions",
        "rental prices",
        "assumption: a round on-demand figure, not a quote; prices vary by provider and year",
    ),
    Fact(
        "econ_a100_usd_per_hour",
        1.5,
        "USD per GPU-hour",
        "course_price_assumptions",
        "rental prices",
        "assumption: a round on-demand figure, not a quote",
    ),
    Fact(
        "econ_l4_usd_per_hour",
        0.7,
        "USD per GPU-hour",
        "course_price_assumptions",
        "rental prices",
        "assumption: a round on-demand figure, not a quote",
    ),
    Fact(
        "econ_t4_usd_per_hour",
        0.35,
        "USD per GPU-hour",
        "course_price_assumptions",
        "rental prices",
        "assumption: a round on-demand figure, not a quote",
    ),
    Fact(
        "econ_tpu_v5e_usd_per_hour",
        1.2,
        "USD per chip-hour",
        "course_price_assumptions",
        "rental prices",
        "assumption: a round on-demand figure, not a quote",
    ),
    # DeepSeek-V3: the training cost table and the run it describes.
    Fact(
        "econ_v3_pretraining_gpu_hours",
        2_664_000,
        "H800 GPU-hours",
        "deepseekv3",
        "Table 1",
        "printed as 2664K",
    ),
    Fact(
        "econ_v3_context_extension_gpu_hours",
        119_000,
        "H800 GPU-hours",
        "deepseekv3",
        "Table 1",
        "printed as 119K",
    ),
    Fact(
        "econ_v3_post_training_gpu_hours",
        5_000,
        "H800 GPU-hours",
        "deepseekv3",
        "Table 1",
        "printed as 5K",
    ),
    Fact(
        "econ_v3_total_gpu_hours",
        2_788_000,
        "H800 GPU-hours",
        "deepseekv3",
        "Table 1",
        "printed as 2788K",
    ),
    Fact(
        "econ_v3_cost_usd",
        (5.328e6, 0.238e6, 0.01e6, 5.576e6),
        "USD",
        "deepseekv3",
        "Table 1",
        "pre-training, context extension, post-training, total; printed as $5.328M, $0.238M, "
        "$0.01M, $5.576M",
    ),
    Fact(
        "econ_v3_gpu_hours_per_trillion_tokens",
        180_000,
        "H800 GPU-hours",
        "deepseekv3",
        "§1",
        "'180K H800 GPU hours' per trillion pre-training tokens, '3.7 days' on the cluster",
    ),
    Fact(
        "econ_v3_days_per_trillion_tokens",
        3.7,
        "days",
        "deepseekv3",
        "§1",
        "wall-clock days per trillion tokens on the 2,048-GPU cluster",
    ),
    Fact("econ_v3_cluster_gpus", 2048, "H800 GPUs", "deepseekv3", "§1 and §3.1"),
    Fact(
        "econ_v3_active_params",
        37e9,
        "parameters",
        "deepseekv3",
        "abstract",
        "activated per token (671B in total)",
    ),
    Fact("econ_v3_total_params", 671e9, "parameters", "deepseekv3", "abstract"),
    Fact("econ_v3_tokens", 14.8e12, "tokens", "deepseekv3", "abstract"),
    Fact("econ_v3_layers", 61, "", "deepseekv3", "§4.2", "Transformer layers"),
    Fact("econ_v3_attention_heads", 128, "", "deepseekv3", "§4.2"),
    Fact(
        "econ_v3_qk_head_dim",
        192,
        "",
        "deepseekv3",
        "§4.2",
        "per-head query/key dimension: 128 (d_h) + 64 (decoupled RoPE, d_h^R)",
    ),
    Fact("econ_v3_v_head_dim", 128, "", "deepseekv3", "§4.2", "per-head value dimension d_h"),
    Fact(
        "econ_v3_pretraining_seq_len",
        4096,
        "tokens",
        "deepseekv3",
        "§4.2 (training hyper-parameters)",
        "maximum sequence length during pre-training (extended to 32K, then 128K, afterwards)",
    ),
    Fact(
        "econ_v3_nvlink_gbs",
        160.0,
        "GB/s",
        "deepseekv3",
        "§3.2.2",
        "intra-node NVLink bandwidth as the report counts it for all-to-all",
    ),
    Fact(
        "econ_v3_infiniband_gbs",
        50.0,
        "GB/s",
        "deepseekv3",
        "§3.2.2",
        "cross-node InfiniBand bandwidth per GPU",
    ),
    Fact(
        "econ_v3_max_nodes_per_token",
        4,
        "nodes",
        "deepseekv3",
        "§2.1.2 and §4.2",
        "node-limited routing: each token is sent to at most 4 nodes",
    ),
    Fact(
        "econ_v3_routed_experts_per_token",
        8,
        "experts",
        "deepseekv3",
        "§4.2",
        "routed experts each token activates (of 256), besides 1 shared expert",
    ),
    Fact(
        "econ_v3_experts_per_node_claim",
        3.2,
        "experts",
        "deepseekv3",
        "§3.2.2",
        "average experts per node a token can select without extra NVLink overhead",
    ),
    Fact(
        "econ_v3_max_experts_claim",
        13,
        "experts",
        "deepseekv3",
        "§3.2.2",
        "'up to 13 experts (4 nodes x 3.2 experts/node)' without more communication",
    ),
    # A dense model trained in the same period, for comparisons of compute.
    Fact("econ_llama3_405b_params", 405e9, "parameters", "dubey2024llama3", "§1"),
    Fact("econ_llama3_405b_tokens", 15.6e12, "tokens", "dubey2024llama3", "§1"),
    Fact(
        "econ_llama3_405b_flops",
        3.8e25,
        "FLOPs",
        "dubey2024llama3",
        "§1",
        "total pre-training compute of the flagship model",
    ),
    # API list prices (per million output tokens), for the self-hosting break-even.
    Fact(
        "econ_deepseek_v3_api_output_usd_per_m",
        1.10,
        "USD per million tokens",
        "deepseek_api_pricing",
        "Models & Pricing, deepseek-chat, output",
        "list price from February 2025; prices change",
    ),
    Fact(
        "econ_gpt4o_api_output_usd_per_m",
        10.0,
        "USD per million tokens",
        "openai_api_pricing",
        "pricing page, gpt-4o, output",
        "list price in early 2025; prices change",
    ),
]

FACTS: dict[str, Fact] = {f.key: f for f in _FACTS}
if len(FACTS) != len(_FACTS):  # pragma: no cover - guards against a duplicated key when editing
    raise RuntimeError("duplicate key in the facts registry")


def fact(key: str) -> Fact:
    """The registered fact `key`; a KeyError lists close matches when the key is unknown."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, got {type(key).__name__}")
    try:
        return FACTS[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, FACTS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no fact named {key!r} in labs.common.facts{hint}") from None
