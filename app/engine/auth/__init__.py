"""Authentication primitives: JWT (python-jose), HMAC-V2, password hashing."""
