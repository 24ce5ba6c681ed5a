"""Many hosts at once: inventories, collecting each host once, and where each VM can go."""
