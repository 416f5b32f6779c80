"""lexkit.cli"""
