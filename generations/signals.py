from django.dispatch import Signal

# Sent after a generation reaches succeeded or failed (on commit); kwargs: generation.
generation_finished = Signal()

# Sent (on commit) when a generation should run its next step now; kwargs: generation_id,
# channel. generations.tasks queues the Celery task: services never import the tasks,
# which import dispatch, which imports services.
generation_queued = Signal()
