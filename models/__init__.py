"""Online recommenders behind one protocol: learn from events, recommend a slate, save state.

Pure Python and numpy (plus river's bandit policies in the hybrid): nothing here imports the
stream application, the producers or the analysis, so every model runs and is tested alone.
"""
