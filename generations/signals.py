from django.dispatch import Signal

# Sent after a generation reaches succeeded or failed (on commit); kwargs: generation.
generation_finished = Signal()

# Sent (on commit) when a generation should run a step; kwargs: generation_id, channel,
# step (the row's step the message is for) and countdown (seconds). generations.tasks
# queues the Celery task: services never import the tasks, which import dispatch, which
# imports services.
generation_queued = Signal()
