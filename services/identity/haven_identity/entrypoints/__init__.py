"""How the outside world reaches identity: the gRPC servicer."""
