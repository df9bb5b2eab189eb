// Compiles the shared precompiled header (core/pch/torch_pch.h); holds no code.
