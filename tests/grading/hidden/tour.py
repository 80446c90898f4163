"""Hidden cases of chapter 0 (log-sum-exp along an axis, masked and infinite logits, float16).

Expected values from SciPy's logsumexp on the input converted to float64."""

import numpy as np

from labs.tour.exercises import _WIDER_TYPE, _case

_RNG = np.random.default_rng(7)

HIDDEN = {
    "log_sum_exp": (
        _case([-3.0, 7.25, 0.5, 7.25], "two equal maxima among four logits"),
        _case([710.0, 0.0], "a logit just above float64's exp limit (709.78)"),
        _case([-745.5, -746.0, -800.0], "logits whose exp underflows below the subnormals"),
        _case(_RNG.normal(0.0, 30.0, 257), "257 logits with spread 30"),
        _case([-np.inf], "a single masked logit"),
        _case(
            np.array([[-np.inf, -np.inf], [5.0, -np.inf], [np.inf, -np.inf]]).T,
            "2 x 3 along axis=0: a masked column, a partly masked one, one with +inf",
            axis=0,
        ),
        _case(
            _RNG.normal(0.0, 50.0, (2, 3, 5)),
            "a 2 x 3 x 5 array along the middle axis",
            axis=1,
        ),
        _case(
            np.full((2, 40_000), 11.0, dtype=np.float16),
            "2 rows of 40,000 float16 logits equal to 11 (exp(11) > 65,504): log 40,000 + 11",
        ),
        _case(
            np.concatenate([np.zeros(66_000), [-np.inf] * 10]).astype(np.float16),
            "66,000 float16 zeros and 10 masked logits",
        ),
        _case(np.array([1e4, 1e4 - 1], dtype=np.float32), "float32 logits of 10,000"),
        _case(
            [-12000.0, -12001.0],
            "logits of -12,000: exp underflows even in x86's long double",
            mistakes=((np.float64(-np.inf), _WIDER_TYPE.format(inf="-inf")),),
        ),
        _case(
            [-1500.0, 899.0, 0.0, 900.0],
            "a spread of 2,400: a shift by the mean (75) or the minimum overflows exp",
        ),
    ),
}
POINTS = {"log_sum_exp": 4}
FORBIDDEN: dict = {}
