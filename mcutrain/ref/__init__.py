"""The NumPy reference: interpreter (the specification of every op) and trainer."""
