# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
import logging
logging.basicConfig(level=logging.DEBUG)

# Enable debug mode for ML system
ml_system.debug_mode = True

# Enable debug mode for API gateway
gateway.debug_mode = True
