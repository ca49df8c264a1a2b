"""Inbound upstream callbacks (BFL's task-done webhook): they call generations.services."""
