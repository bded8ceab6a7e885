"""The OMS's messages and topics: public contract v1 and the internal saga commands and replies."""
