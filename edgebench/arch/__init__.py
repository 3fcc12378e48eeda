"""Plain-torch (and Keras) architectures, loaded strictly from checkpoints, and the checkpoint
files themselves. Below the runtimes (a runtime may build one) and above nothing of edgebench's
but its ground floor."""
