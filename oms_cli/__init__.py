"""The `oms` command line: run the OMS, watch and act on orders as an operator, the demo and its report."""
