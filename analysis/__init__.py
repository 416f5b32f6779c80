"""lexkit.analysis"""
