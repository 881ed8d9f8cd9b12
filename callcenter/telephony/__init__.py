"""Asterisk adapters: each turns one live call into a :class:`callcenter.scripting.protocol.Channel`."""
