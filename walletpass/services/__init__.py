"""Service layer: one function per use case, one transaction each; sees ports, never drivers."""
