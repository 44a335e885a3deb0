"""Pure numerics on arrays and pymatgen objects: normal modes, Huang–Rhys factors, lineshapes, capture.

No file or database access happens here; every function documents its units and the equation it
implements (seed 000 = ../shared/seeds/000, Alkauskas, Yan & Van de Walle, PRB 90, 075202 (2014)).
"""
