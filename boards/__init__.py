"""Boards: images gathered by a person and shared with groups or everyone.

The top app below config: it reads generations' images, and generations knows nothing
of it (a deleted or erased image leaves every board by its foreign key's cascade).
"""
