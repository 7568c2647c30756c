"""The reliability suite: break a loopback deployment on purpose while clients keep sending.

    python -m kiro_testing.chaos            # `make chaos`: longer holds, more load
    python -m kiro_testing.chaos --short    # the form `make test` runs (>= 200 requests, every fault)

A stack (`deployment`: 3 gateways behind a round-robin front, 2 brokers, NATS, Redis with
append-only persistence, the simulator with rotating refresh tokens) serves a steady mix of
streaming and non-streaming requests, Anthropic and OpenAI shapes, from several clients
(`load`; one team key per team when the broker issues team keys, else the operator key).
Meanwhile the schedule (`faults`), in turn:

    SIGTERMs a gateway (a rolling restart: nothing may fail), SIGKILLs a broker and a gateway
    (and starts them again), kills and restarts NATS and Redis, and makes the simulator answer
    429s, 500s, torn streams, slow first bytes and expired access tokens for some accounts.

Rules checked by the `ledger` (exit status 1 when one is broken; `report` prints the tables):
- every request ends within its deadline (a request past it is a *hang*);
- a failure is allowed only when it is attributable to a fault and looks like what that fault
  may cause: a cut connection for a request in flight on a SIGKILLed gateway, a 529/503 in the
  client's error shape for a request in flight on a SIGKILLed broker or during a NATS / Redis
  outage. Upstream faults and a graceful gateway restart may cause no failure at all;
- every fault is followed by a success through the front within the recovery deadline;
- no credential is lost: after the run, each one is usable, its refresh token in the broker's
  store (fingerprint from `pool.status`, generation from Redis) is the simulator's current one,
  and a forced refresh through the broker still works;
- usage: with team keys, the broker's usage rows equal what the clients were told (requests and
  tokens, per team), or exceed it only by requests a SIGKILLed gateway cut after their usage was
  written ahead (never less: a record told to a client is never lost); without, the simulator's
  completed streams equal the clients' successes (plus at most the requests in flight on a
  killed process);
- no secret (access / refresh token, client secret, client or admin key) in any service log.
"""
