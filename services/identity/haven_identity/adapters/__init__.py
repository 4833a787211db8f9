"""Identity's stores: the ORM models, queries over them, and the password hasher."""
