"""The MQTT wire protocol: topic tree and pydantic message types (DESIGN.md, "Wire protocol")."""
