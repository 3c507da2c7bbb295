"""In-process fakes of external services, so integration tests never touch the network."""
