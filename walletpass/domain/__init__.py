"""Pure domain values and rules: stdlib only, no I/O, no clock (time is passed in)."""
