"""Development tools: the sandbox, the demo, the local runner and receivers. Never deployed."""
