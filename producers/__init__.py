"""The shopper simulator (catalog, shoppers, choice model, sessions) and its Kafka driver."""
