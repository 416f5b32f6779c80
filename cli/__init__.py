"""lexkit.cli"""

__all__ = []
