"""Identity's rules, free of gRPC and SQL: roles, password policy, tokens, staff rows."""
