"""service: the long-running service, its worker pool and the views the command line shows."""
