"""Publish: write a complete release folder, then switch OUT/current to it atomically."""
