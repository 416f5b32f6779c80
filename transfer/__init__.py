"""lexkit.transfer"""
