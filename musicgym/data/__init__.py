"""MSSD data: schema, readers, validation, prepared datasets, splits and the cache folder."""
