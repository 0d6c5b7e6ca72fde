"""The team-facing half: routing outcomes, rendering them, delivering them."""
