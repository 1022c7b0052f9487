"""The data stage, between ingest and training: the canonical dataset on disk and what is derived
from it for every model (graph, splits, feature matrices). numpy, pandas, pyarrow and scipy; no torch.

This package imports none of its modules, so importing one (``recsys.data.dataset``) pays for that
one only.
"""
