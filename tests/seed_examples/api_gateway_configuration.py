# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
# Customize API gateway
gateway = APIGateway(redis_url="redis://localhost:6379")

# Add custom service
gateway.add_service("custom", ServiceEndpoint(
    name="custom-service",
    url="http://localhost:8007",
    health_check_url="http://localhost:8007/health",
    weight=2,
    timeout=60,
    retry_count=5,
    circuit_breaker_threshold=3,
    circuit_breaker_timeout=120
))

# Set custom rate limits
gateway.set_rate_limit("custom/*", RateLimit(
    requests_per_minute=500,
    requests_per_hour=5000,
    burst_limit=100
))
