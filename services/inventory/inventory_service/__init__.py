"""The inventory service: stock per SKU and location, reservations and allocation."""
