"""Compagnon: the local signing and sealed-bid companion agent."""

__version__ = "0.1.0"
