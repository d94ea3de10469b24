"""One router per resource of the inventory API."""
