"""The case domain: plain Python, no web framework and no database."""
