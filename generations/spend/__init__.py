"""Spend and content policy (issue 22): what each attempt cost, money budgets with
alerts, the moderation gate before the upstream, and the reports' spend figures."""
