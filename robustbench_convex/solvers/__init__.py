"""Solvers for the convex programs of ``robustbench_convex.formulations``.

- ``cvxpy_backend.solve_cvxpy``: the reference (interior point: MOSEK when licensed, else Clarabel,
  else SCS).
- ``admm.solve_admm``: the paper's ADMM (quadratic time per iteration), in PyTorch.
- ``ipm.solve_ipm``: a structure-exploiting interior-point method for the nominal programs
  (squared, hinge, logistic; memory quadratic in ``d P``; certified to ``tol`` at n = 12000,
  d = 101, P = 64 on the squared loss).
- ``scp.solve_scp``: sampled convex programs over output weights (FISTA or CVXPY).
- ``front.solve``: the front door, ``solver="auto"`` picks the fastest certified solver per
  program (``solve_ipm`` for the nominal squared and hinge losses and small logistic programs,
  ``solve_admm`` with its certified stop for large logistic ones, ``solve_cvxpy`` for small
  robust programs).
"""
