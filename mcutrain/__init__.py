"""mcutrain: compile int8 training of small CNNs for microcontrollers."""
__version__ = "0.1.0"
