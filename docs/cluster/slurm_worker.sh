#!/bin/bash
# One node, 4 defectscreen workers of 8 MPI ranks each (32 cores): every worker claims jobs from the shared
# LaunchPad until none is left; each GPAW calculation runs as an 8-rank job step of this allocation.
#SBATCH --job-name=defectscreen
#SBATCH --nodes=1
#SBATCH --ntasks=32
#SBATCH --time=24:00:00

source ~/.defectscreen_env            # export DEFECTSCREEN_MONGO_URI=... (a file only you can read: chmod 600)
export DEFECTSCREEN_DATA_DIR=${TMPDIR:-/tmp}/defectscreen-$SLURM_JOB_ID   # node-local scratch: job folders, logs
export DEFECTSCREEN_MPIEXEC="srun --exact"                                 # job steps side by side in the allocation
export OMP_NUM_THREADS=1

WORKERS=4
for _ in $(seq $WORKERS); do
    defectscreen worker --ranks $((SLURM_NTASKS / WORKERS)) &
done
wait
