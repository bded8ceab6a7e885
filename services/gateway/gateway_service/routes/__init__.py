"""The gateway's routes, one router per audience: channels, Shopify, operators, customers' tracking pages."""
