"""Security tests of issue 6: hostile input, tampering, sender checks, headers, secrets."""
