"""Business rules more than one service follows: the network file, routing, promise dates and partner scorecards."""
