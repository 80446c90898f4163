"""Hidden cases of chapter 0 (log-sum-exp, masked logits included).

Expected values from SciPy's logsumexp."""

import numpy as np

from labs.tour.exercises import _case

HIDDEN = {
    "log_sum_exp": (
        _case([-3.0, 7.25, 0.5, 7.25], "two equal maxima among four logits"),
        _case([710.0, 0.0], "a logit just above float64's exp limit (709.78)"),
        _case([-745.5, -746.0, -800.0], "logits whose exp underflows below the subnormals"),
        _case(np.random.default_rng(7).normal(0.0, 30.0, 257), "257 logits with spread 30"),
        _case([-np.inf, 900.0, -np.inf, 899.0], "two masked logits beside two large ones"),
        _case([-np.inf], "a single masked logit"),
    ),
}
POINTS = {"log_sum_exp": 4}
FORBIDDEN: dict = {}
