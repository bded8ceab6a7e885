"""The development stack: Kafka and PostgreSQL started here (or by Docker), certificates, credentials, ACLs."""
