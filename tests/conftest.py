import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

# Two cores: more threads than cores slows torch by ~50x (see the developers' guide).
torch.set_num_threads(1)
