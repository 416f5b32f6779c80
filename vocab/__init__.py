"""lexkit.vocab"""
