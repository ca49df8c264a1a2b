from django.dispatch import Signal

# Sent when a request is refused for lack of free quota; kwargs: user, model, n.
quota_refused = Signal()
