"""The fourteen mastering stages, one module each (see DESIGN.md)."""
