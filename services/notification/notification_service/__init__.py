"""The notification service: messages to customers and operators, each sent once."""
