"""C code generation: Graph + memory plan -> model.c / model.h."""
