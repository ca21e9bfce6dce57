"""Helpers shared by the Gaussian PID tests."""

import numpy as np


def half_log2(x):
    return 0.5 * np.log2(x)


def atoms(result):
    return np.array([result.redundancy, result.unique1, result.unique2, result.synergy])
