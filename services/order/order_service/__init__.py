"""The order service: orders, their lines, customer and address, the status timeline, and the saga."""
