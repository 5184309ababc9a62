"""The numbers initializers compute that need no tensor, and so no torch.

Checking a policy builds its initializers, which validate their arguments
with these; keeping them here keeps that check free of torch's import.
"""

from __future__ import annotations

import math
import warnings

__all__ = ["DISTRIBUTIONS", "bias_init_with_prob", "normal_cdf"]

#: The ``distribution`` argument's choices.
DISTRIBUTIONS = ("normal", "uniform")


def bias_init_with_prob(prior_prob: float) -> float:
    r"""The bias that makes a sigmoid output ``prior_prob`` at zero input.

    .. math:: b = -\log\frac{1 - p}{p}

    No validation, as in mmengine: ``p = 0.5`` gives ``-0.0`` (the sign bit is
    kept), ``p = 1.0`` gives ``+inf`` with a ``RuntimeWarning``, ``p = 0.0``
    raises ``ZeroDivisionError``, ``p`` outside ``[0, 1]`` gives NaN with a
    ``RuntimeWarning``.
    """
    odds = (1 - prior_prob) / prior_prob
    if odds == 0:
        warnings.warn("divide by zero encountered in log", RuntimeWarning, stacklevel=2)
        return math.inf
    if odds < 0:  # p outside [0, 1]: numpy's log gives NaN (math.log would raise)
        try:
            import numpy as np  # the NaN's sign bit is numpy's (and varies with its build)
        except ImportError:
            warnings.warn("invalid value encountered in log", RuntimeWarning, stacklevel=2)
            return -math.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value = float(-np.log(odds))
        warnings.warn("invalid value encountered in log", RuntimeWarning, stacklevel=2)
        return value
    return float(-math.log(odds))


def normal_cdf(x: float) -> float:
    r"""The standard normal CDF: :math:`\Phi(x) = (1 + \operatorname{erf}(x/\sqrt2))/2`."""
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
