"""Email campaigns: compose, test, confirm, send (resumably, on the job queue) and report."""
