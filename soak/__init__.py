"""Load tests of a real edge process (``python -m soak.traffic``)."""
