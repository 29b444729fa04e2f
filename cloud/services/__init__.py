"""Use cases of the cloud service; HTTP handlers and the MQTT bridge only call into these."""
