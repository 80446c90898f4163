"""`python -m labs.bench --out results.json [--sizes cpu|gpu_small|gpu] [--repeats N]`.

See labs.bench.run.
"""

import os
import sys

# JAX takes 75% of a GPU's memory at start by default; PyTorch's baselines need their share.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from labs.bench.run import main  # noqa: E402

sys.exit(main())
