"""Landing: find what arrived, fingerprint it, and never touch it again."""
