from django.dispatch import Signal

# Sent after a generation reaches succeeded or failed (on commit); kwargs: generation.
generation_finished = Signal()
