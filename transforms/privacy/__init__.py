"""Privacy: the free-text scrubber and the pseudonyms of specimen numbers (one implementation each)."""
