"""One-day passes: products, orders and payments, credentials, keys and the trust bundle."""
