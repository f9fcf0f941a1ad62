"""The ModelRelease decisions, as pure functions of spec, status, observations and time."""
