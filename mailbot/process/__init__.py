"""process: one stored mail at a time, from raw bytes to a ticket, its events and replies."""
