"""Quantization: fixed-point math, BatchNorm folding, calibration, int8 conversion, QAS."""
