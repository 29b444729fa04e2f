"""Dorpskluis cloud service: orders, compartment assignment, pickup codes, MQTT ingest (see README.md)."""
