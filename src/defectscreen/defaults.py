"""The defaults a user sees in ``defectscreen --help``, in one import-free module.

The modules that use them import them from here; the command line reads them without importing numpy, torch or
FireWorks, so ``--help`` answers at once.
"""

#: Gaussian width of each phonon δ in S(ħω) and the lineshape, meV.
DEFAULT_SIGMA_MEV = 2.0
#: Lorentzian half width of the zero-phonon line, meV.
DEFAULT_GAMMA_MEV = 0.3
#: Modes below this energy carry no partial Huang–Rhys factor (the acoustic Γ modes), meV.
DEFAULT_MIN_PHONON_ENERGY_MEV = 1.0
#: Gaussian width of the energy δ in the multi-mode capture sum, meV.
DEFAULT_CAPTURE_SIGMA_MEV = 4.0
#: Finite-displacement amplitude for force constants, Å.
DEFAULT_DISPLACEMENT_ANGSTROM = 0.01
#: Seconds without a ping after which a RUNNING job counts as lost and is rerun.
DEFAULT_LOST_AFTER_S = 600
#: Labelled perturbed cells per defect cell (training + validation) for a potential trained from scratch: on the
#: N_C-diamond xTB label curve MACE needs 20 training labels for S within 5 %.
DEFAULT_N_STRUCTURES = 24
#: The same for a foundation model fine-tuned on labels of its own functional: on the N_C-diamond GPAW PBE label
#: curve SevenNet-0 fine-tuned on 10 labels matches MACE from scratch on 40 (forces, Γ frequencies, S).
DEFAULT_FINE_TUNING_N_STRUCTURES = 12
#: Epochs of per-defect potential training.
DEFAULT_MAX_EPOCHS = 150
#: Frames per optimiser step of per-defect potential training (MACE, NequIP).
DEFAULT_BATCH_SIZE = 4
#: Adam's initial learning rate of per-defect potential training from scratch (MACE, NequIP).
DEFAULT_LEARNING_RATE = 0.01
#: Optimiser steps of fine-tuning a foundation model on a defect's frames (rounded up to whole epochs): on the
#: N_C-diamond label curve 400 steps from 10 labels beat 100 steps (17.7 against 39.0 meV/Å held out).
DEFAULT_FINE_TUNING_STEPS = 400
#: Frames per optimiser step of fine-tuning a foundation model (SevenNet's own recipe).
DEFAULT_FINE_TUNING_BATCH_SIZE = 1
#: Adam's initial learning rate of fine-tuning a foundation model (SevenNet's own recipe).
DEFAULT_FINE_TUNING_LEARNING_RATE = 0.004
#: δ of the fine-tuning's Huber loss, eV (eV/Å for forces; SevenNet's own recipe): on the GPAW PBE label curve a
#: squared loss (δ = 1) was no better (docs/per-defect-potentials.md).
DEFAULT_FINE_TUNING_HUBER_DELTA_EV = 0.01
#: Validation force RMSE above which a per-defect potential is flagged and not used, meV/Å.
DEFAULT_MAX_VALIDATION_FORCE_RMSE_MEV_PER_ANGSTROM = 30.0
#: Solvers of the force-constant embedding: dense (≤ 4000 atoms), Lanczos, Chebyshev, SLEPc shift-invert.
EMBEDDING_METHODS = ("dense", "lanczos", "chebyshev", "slepc")
#: Bond-switching glass generation (seed 004's protocol): Metropolis switches at the melt temperature, then while
#: the temperature falls linearly to the final one; K.
DEFAULT_MELTING_MOVES = 5000
DEFAULT_QUENCHING_MOVES = 13000
DEFAULT_MELT_TEMPERATURE_K = 10000.0
DEFAULT_GLASS_TEMPERATURE_K = 300.0
