"""The drop-folder service: a shell over the pipeline."""
