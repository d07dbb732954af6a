"""Frontends: turn a model in some outside format into our IR Graph.

Each frontend lives in its own module and imports its heavy dependencies lazily; this
package imports nothing itself. `frontend.zoo` reads the int8 model zoo (../shared/models).
"""
