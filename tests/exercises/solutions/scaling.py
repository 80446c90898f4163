"""Reference solutions of chapter 1's exercises."""

import numpy as np


def compute_optimal_split(C, params):
    p = params
    gain = (p.alpha * p.A / (p.beta * p.B)) ** (1 / (p.alpha + p.beta))
    n_opt = gain * (C / 6) ** (p.beta / (p.alpha + p.beta))
    return float(n_opt), float(C / (6 * n_opt))


def huber_loss(r, delta):
    r = np.asarray(r, dtype=float)
    return np.where(np.abs(r) <= delta, r**2 / 2, delta * (np.abs(r) - delta / 2))


def power_law_fit(x, y):
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(intercept)), float(slope)
