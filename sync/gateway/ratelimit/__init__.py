"""Rate limiting: rule matching, the in-memory limiter, the Redis limiter, and the response headers."""
