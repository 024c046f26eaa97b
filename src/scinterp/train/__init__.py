"""scinterp.train."""
