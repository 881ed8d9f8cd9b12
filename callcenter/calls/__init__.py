"""Call orchestration: entry points → scripts, agent groups, ring-then-overflow, and the call timeline."""
