"""Services every interface shares: a batch end to end, one lookup end to end, fleet runs."""
