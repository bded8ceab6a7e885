"""How a message becomes a database change and back: consume → unit of work → outbox → relay."""
