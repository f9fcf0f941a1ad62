"""`make demo`: the product at work on a local cluster, watched live in the terminal."""
