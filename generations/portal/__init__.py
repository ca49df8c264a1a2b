"""The portal: the pages people use to generate, browse and manage their images.

Interfaces only (views, forms, the words shown); domain writes stay in
generations.services, the portal's own image writes (star, delete, zip) in services.py.
"""
