"""Where arrays live and what is checked before a kernel sees them: the backends (which kernels, which memory), the
arenas a model's passes take their arrays from, the checks at the public boundary, and files written atomically
(the checkpoint archive among them). Imports nothing of pytcn but its kernels."""
