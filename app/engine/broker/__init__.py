"""The broker family's domain: state machines and simulators."""
