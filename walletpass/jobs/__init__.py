"""Jobs: the transactional outbox, its handlers and the workers that run them."""
