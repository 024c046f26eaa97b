"""scinterp.interpret."""
