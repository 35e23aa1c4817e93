"""The version of musicgym, in a module of its own so that any layer can read it cheaply."""

__version__ = "0.1.0"
