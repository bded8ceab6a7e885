"""The fulfillment service: requests to warehouses and stores, invoices, pick/pack/QC progress."""
