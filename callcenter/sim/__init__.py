"""A faithful Asterisk 22 stand-in for tests, the demo and benchmarks (docs/design.md "sim/").

- :mod:`callcenter.sim.agi`: a FastAGI peer (the Asterisk side of ``AGI(agi://…)``) over real TCP.
- :mod:`callcenter.sim.ari` / :mod:`callcenter.sim.ari_server`: an ARI server (REST + events).
- :mod:`callcenter.sim.ari_parties`: the simulated callers and agents both simulators play.
- :mod:`callcenter.sim.clock`: the scaled call clock shared with the runner.

The simulators never import the adapters' protocol code: a parser shared by both sides would hide the bugs
they share.
"""
