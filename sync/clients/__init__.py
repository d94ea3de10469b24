"""Clients of the system's own services, shared by the services that call them."""
