"""Where bytes are read from and written to: registries, files."""
