"""Reference clients for refserver's three API families (see examples/README.md)."""
