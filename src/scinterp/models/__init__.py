"""scinterp.models."""
