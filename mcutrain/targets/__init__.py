"""Build targets: the host (gcc + ctypes) and Cortex-M (arm-none-eabi-gcc + QEMU)."""
