"""The OMS's shared library: settings, logging, messaging, outbox, inbox and the local stack."""
