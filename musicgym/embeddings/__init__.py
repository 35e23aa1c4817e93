"""Track embeddings: one vector per track, from audio features and/or session co-occurrence.

`TrackEmbeddings` holds the vectors (id <-> row lookups, exact top-k, npz/CSV files);
`from_features`, `from_cooccurrence` and `combine` build them.
"""

from musicgym.embeddings.builders import FEATURE_NAMES, combine, from_features
from musicgym.embeddings.cooccurrence import encode_log, from_cooccurrence
from musicgym.embeddings.search import topk
from musicgym.embeddings.store import FORMAT_VERSION, TrackEmbeddings

__all__ = [
    "FEATURE_NAMES",
    "FORMAT_VERSION",
    "TrackEmbeddings",
    "combine",
    "encode_log",
    "from_cooccurrence",
    "from_features",
    "topk",
]
