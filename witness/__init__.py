"""The C2SP tlog-witness server and its state. Not implemented yet (see README, Status)."""
