"""The small runtime every Haven service shares.

Configuration, logging, the gRPC server with health, reflection and graceful
shutdown, database sessions and the unit of work, the transactional outbox and
its relay, durable event consumers, and the internal identity token.
"""
