"""The locker domain shared by edge and cloud: layout, wire protocol, pickup codes, door hardware."""
