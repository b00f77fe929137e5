"""Small helpers every layer above the kernels uses: input checks, obs batch columns, docstrings.

* :mod:`.validate`: checks of AnnData input and arguments, with messages that say what to do;
* :mod:`.batches`: batch columns of ``obs`` checked and one-hot encoded;
* :mod:`.docs`: parameter texts shared by several public functions.
"""
