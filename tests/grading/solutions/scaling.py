"""Reference solutions of chapter 1's exercises."""

import numpy as np


def compute_optimal_split(C, params):
    p = params
    gain = (p.alpha * p.A / (p.beta * p.B)) ** (1 / (p.alpha + p.beta))
    n_opt = gain * (C / 6) ** (p.beta / (p.alpha + p.beta))
    return float(n_opt), float(C / (6 * n_opt))


def robust_exponent(x, y):
    """Huber in log space, delta at three noise units read off a Theil-Sen line's residuals."""
    lx, ly = np.log(x), np.log(y)
    i, j = np.triu_indices(len(lx), 1)
    slope = np.median((ly[j] - ly[i]) / (lx[j] - lx[i]))  # robust to a few bad runs
    r = ly - slope * lx
    delta = 3 * 1.4826 * np.median(np.abs(r - np.median(r)))  # three robust noise units
    weights = np.ones_like(ly)
    for _ in range(300):  # iteratively reweighted least squares for the Huber loss
        slope, intercept = np.polyfit(lx, ly, 1, w=np.sqrt(weights))
        r = ly - intercept - slope * lx
        weights = np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    return float(slope)


def predict_n_opt(profiles, target_C):
    """A parabola per profile; only the vertices inside their profile's sizes enter the fit."""
    budgets, vertices = [], []
    for budget, sizes, losses in profiles:
        curve, slope_, _ = np.polyfit(np.log(sizes), losses, 2)
        vertex = np.exp(-slope_ / (2 * curve))
        if curve > 0 and sizes.min() <= vertex <= sizes.max():
            budgets.append(budget)
            vertices.append(vertex)
    exponent, log_k = np.polyfit(np.log(budgets), np.log(vertices), 1)
    return float(np.exp(log_k) * target_C**exponent)


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
