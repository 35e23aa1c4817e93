"""The synthetic MSSD: a generator of MSSD-format logs with a known ground truth.

- `generator`: `SyntheticConfig`, `generate`, `GENERATOR_VERSION` (writes a set atomically);
- `dataset`: `SyntheticDataset` (a generated set's files) and its truth for a prepared log;
- `parameters`, `catalog`, `ground_truth`: the model's parameters, tracks, sessions and skips;
- `writer`: the set's tables, chunk by chunk; `marginals`: the real MSSD aggregates it matches;
- `bayes`: the observable Bayes reference (the generator's own posterior predictive);
- `default`: the project's default set, generated into the cache on first use.

It reads `musicgym.data.schema`; `musicgym.data` never imports it.
"""
