# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
from sync.api_gateway import APIGateway, ServiceEndpoint, RateLimit

# Initialize API gateway
gateway = APIGateway()

# Register services
gateway.add_service("inventory", ServiceEndpoint(
    name="inventory-1",
    url="http://localhost:8004",
    health_check_url="http://localhost:8004/health",
    weight=1,
    timeout=30
))

gateway.add_service("analytics", ServiceEndpoint(
    name="analytics-1",
    url="http://localhost:8005",
    health_check_url="http://localhost:8005/health",
    weight=1,
    timeout=30
))

# Configure rate limits
gateway.set_rate_limit("inventory/*", RateLimit(
    requests_per_minute=200,
    requests_per_hour=2000,
    burst_limit=50
))

gateway.set_rate_limit("analytics/*", RateLimit(
    requests_per_minute=100,
    requests_per_hour=1000,
    burst_limit=25
))

# Start gateway
import uvicorn
uvicorn.run(gateway.app, host="0.0.0.0", port=8000)
