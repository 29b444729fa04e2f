"""HTTP API: one router per resource; handlers stay thin and call the services."""
