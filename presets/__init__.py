"""Package data: chain presets, platform targets and genre profiles (JSON)."""
