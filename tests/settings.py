"""Settings shared by the tests and the torchrun worker."""

DDP_DATA = dict(n_cells=1600, n_genes=300, n_groups=4, random_state=0)
DDP_TRAIN = dict(n_latent=8, n_hidden=64, max_epochs=80, batch_size=64, random_state=0)
CONSENSUS_TRAIN = dict(n_latent=8, n_hidden=32, max_epochs=30, n_runs=3, random_state=0)
