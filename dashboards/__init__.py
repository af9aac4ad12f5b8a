"""Turn-the-curve charts, the static dashboard site and the board pack. Knows nothing of Dagster."""
