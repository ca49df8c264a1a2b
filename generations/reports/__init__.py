"""Staff reports: usage queries (queries.py), the SVG chart, the pages and CSV."""
