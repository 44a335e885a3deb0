"""Per-defect machine-learned potentials (seed 000 §II): training sets of perturbed supercells,
training backends (MACE; NequIP), the trained model as an ASE calculator, and its errors."""
