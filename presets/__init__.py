"""The prompt library: presets (a model, its parameters, a prompt template with slots).

Sits between generations and accounts in the layers: a generation records the preset it
came from, and boards (above generations) reuse the sharing rules in `presets.sharing`.
"""
