from django.dispatch import Signal

# Sent after a generation reaches succeeded or failed (on commit); kwargs: generation, and
# images: how many images it stored (0 for a failure), so no receiver counts them again.
generation_finished = Signal()

# Sent when a person's job changed in a way their open pages show: queued (on commit),
# running (first step taken), failed (on commit), succeeded (once its thumbnails exist).
# kwargs: generation_id, user_id. generations.portal.live publishes it to open streams.
generation_changed = Signal()
