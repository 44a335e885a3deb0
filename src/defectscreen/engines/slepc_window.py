"""Every eigenpair of a sparse symmetric matrix inside an interval, by SLEPc spectrum slicing.

Runs in the Python that has petsc4py/slepc4py (Debian's, numpy 1.x: see engines/slepc.py), so it
imports only numpy, petsc4py and slepc4py. Usage: python slepc_window.py INPUT.npz OUTPUT.npz
INPUT holds indptr, indices, data (CSR), vector, lower, upper, tolerance; OUTPUT gets eigenvalues,
projections (e_k · vector), participation (Σ_j (Σ_α e_k,jα²)², atoms in 3-blocks), errors (relative
residuals), iterations.
"""

import sys

import numpy as np
import petsc4py

petsc4py.init([sys.argv[0], "-st_pc_factor_mat_solver_type", "mumps", "-mat_mumps_icntl_13", "1"])
from petsc4py import PETSc  # noqa: E402
from slepc4py import SLEPc  # noqa: E402


def main(source, target):
    given = np.load(source)
    n = len(given["indptr"]) - 1
    matrix = PETSc.Mat().createAIJ(size=(n, n), csr=(given["indptr"].astype(PETSc.IntType),
                                                     given["indices"].astype(PETSc.IntType), given["data"]))
    matrix.assemble()
    matrix.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    solver = SLEPc.EPS().create()
    solver.setOperators(matrix)
    solver.setProblemType(SLEPc.EPS.ProblemType.HEP)
    solver.setWhichEigenpairs(SLEPc.EPS.Which.ALL)
    solver.setInterval(float(given["lower"]), float(given["upper"]))
    solver.setTolerances(float(given["tolerance"]), 1000)
    transform = solver.getST()
    transform.setType(SLEPc.ST.Type.SINVERT)
    transform.getKSP().setType("preonly")
    transform.getKSP().getPC().setType("cholesky")
    solver.setFromOptions()
    solver.solve()
    vector = matrix.createVecRight()
    weights = np.asarray(given["vector"])
    eigenvalues, projections, participation, errors = [], [], [], []
    for index in range(solver.getConverged()):
        eigenvalues.append(solver.getEigenpair(index, vector).real)
        values = vector.getArray().copy()
        projections.append(float(values @ weights))
        participation.append(float(np.sum(np.sum(values.reshape(-1, 3) ** 2, axis=1) ** 2)))
        errors.append(solver.computeError(index, SLEPc.EPS.ErrorType.RELATIVE))
    np.savez(target, eigenvalues=np.array(eigenvalues), projections=np.array(projections),
             participation=np.array(participation), errors=np.array(errors),
             iterations=solver.getIterationNumber())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
