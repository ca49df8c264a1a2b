"""Generations: the domain (models, services, selectors, dispatch, tasks) and its audiences.

Audience packages: portal/ (people's pages), reports/ (staff), api/ (/v1), callbacks/
(upstreams calling back). Writes go through services.py; an audience's own services.py
holds only writes that audience alone makes (see README, "Where a write goes").
"""
