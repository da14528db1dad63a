"""Solvers for the convex programs of ``robustbench_convex.formulations``.

- ``cvxpy_backend.solve_cvxpy``: the reference (interior point: MOSEK when licensed, else Clarabel,
  else SCS).
- ``admm.solve_admm``: the paper's ADMM (quadratic time per iteration), in PyTorch.
- ``scp.solve_scp``: sampled convex programs over output weights (FISTA or CVXPY).
"""
