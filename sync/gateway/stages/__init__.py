"""The gateway's request pipeline, outermost first (each stage is a plain ASGI class):

1. :class:`~.errors.ErrorHandling` turns any exception into the JSON error shape (never a trace).
2. :class:`~.request_id.RequestId` takes a valid ``X-Request-ID`` or makes one, returns it, and
   records status and latency in the metrics.
3. :class:`~.router.Router` sends the gateway's own routes to the admin app and everything else down:
4. :class:`~.authenticate.Authenticate` checks the bearer token (when JWT is configured),
5. :class:`~.ratelimit.RateLimitStage` applies the endpoint's limit for this client,
6. :class:`~.proxy.Proxy` picks an instance and streams the exchange through the gateway's
   own keep-alive client (:class:`~sync.gateway.upstream.UpstreamPool`).

Stages share per-request facts through ``scope["gateway"]`` (a :class:`RequestContext`).
"""
