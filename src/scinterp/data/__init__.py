"""scinterp.data."""
