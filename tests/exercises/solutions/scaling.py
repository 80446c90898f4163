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


def plan_pilot_runs(lab, target_C):
    """Four IsoFLOP profiles of 7 sizes spending the whole budget, then approach 2."""
    weights = np.array([0.2, 0.6, 2.0, 7.0])
    budgets = weights / (7 * weights.sum()) * lab.budget
    vertex_c, vertex_n = [], []
    for c in budgets:
        sizes = (c / 120) ** 0.5 * np.logspace(-0.6, 0.6, 7)
        losses = [lab(n, c / (6 * n)) for n in sizes]
        curve, slope, _ = np.polyfit(np.log(sizes), losses, 2)
        vertex_c.append(c)
        vertex_n.append(np.exp(-slope / (2 * curve)))
    p, log_k = np.polyfit(np.log(vertex_c), np.log(vertex_n), 1)
    return float(np.exp(log_k) * target_C**p)
