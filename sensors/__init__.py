"""Temperature: the DS18B20 driver over the kernel's w1 sysfs files (ds18b20), that file format (w1), and a
fridge/freezer simulator writing those same files (simulator)."""
