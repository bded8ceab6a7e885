"""Partner simulators that play warehouses, stores and carriers on their public topics."""
