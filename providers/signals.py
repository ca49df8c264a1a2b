from django.dispatch import Signal

# Sent when staff switch channels on or off in bulk; kwargs: channels (list of Channel),
# enabled (bool). accounts records it in the audit log: providers sit below accounts
# and never import it.
channels_switched = Signal()
