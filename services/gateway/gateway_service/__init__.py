"""The gateway service: the HTTP edge for channels, Shopify, operators and customers, the order read model and webhooks."""
