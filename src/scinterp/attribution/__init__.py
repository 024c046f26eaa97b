"""scinterp.attribution."""
