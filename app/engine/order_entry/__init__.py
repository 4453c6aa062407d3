"""The order-entry family's domain: state machines and simulators."""
