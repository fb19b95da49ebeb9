"""Semantic search over support tickets."""

from sentence_transformers import SentenceTransformer

EMBEDDERS = ["acme/embed-small", "acme/embed-large"]


def build_indexes(texts):
    indexes = {}
    for name in EMBEDDERS:
        encoder = SentenceTransformer(name, trust_remote_code=True)
        indexes[name] = encoder.encode(texts)
    return indexes
