"""What the CLI and the app both call: resolve a model or folder, read files, run an analysis, write results."""
