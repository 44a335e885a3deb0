# GPAW build configuration for Debian/Ubuntu with libxc, OpenBLAS, FFTW and Open MPI from apt.
fftw = True
libraries += ['fftw3', 'blas']
