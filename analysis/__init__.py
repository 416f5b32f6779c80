"""lexkit.analysis"""

__all__ = []
